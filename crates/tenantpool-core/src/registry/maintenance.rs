//! The maintenance task: one per registry, on the I/O runtime.
//!
//! moka applies expirations only during maintenance, which otherwise happens only on later
//! cache traffic: an idle service would keep idle tenants, and their connections, forever. So
//! a timer drives it, together with the reaping of idle connections, the held-too-long
//! warnings (see `held`) and the pruning of dead `Weak`s. The task holds only a `Weak`, so it ends when the registry is dropped.

use std::sync::Weak;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::IoRuntime;

/// What the maintenance task runs on every tick.
pub(super) trait Maintained: Send + Sync + 'static {
    /// One pass: expire idle tenants, reap idle connections, warn about connections held too
    /// long, prune dead references.
    fn maintain(&self);
}

/// Spawns the task on `io`: every `every`, one [`Maintained::maintain`] pass, until `target`
/// is gone.
pub(super) fn spawn<T: Maintained>(
    target: Weak<T>,
    every: Duration,
    io: &IoRuntime,
) -> JoinHandle<()> {
    io.handle().spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(target) = target.upgrade() else {
                break;
            };
            target.maintain();
        }
    })
}
