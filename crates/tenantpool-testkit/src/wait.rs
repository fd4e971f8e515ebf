//! Bounded polling: a test waits for the server (or a registry) to reach a state, but never
//! longer than it says.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`wait_until`] polls.
///
/// ```
/// assert_eq!(tenantpool_testkit::POLL_EVERY, std::time::Duration::from_millis(20));
/// ```
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `probe` every [`POLL_EVERY`] until `done` holds for its value or `timeout` has
/// passed; returns the last value and how long it waited. The caller asserts on the value,
/// so that a timeout fails with the caller's message.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// let polls = AtomicU32::new(0);
/// let (n, waited) = tenantpool_testkit::wait_until(
///     Duration::from_secs(5),
///     || async { polls.fetch_add(1, Ordering::Relaxed) + 1 },
///     |n| *n >= 3,
/// )
/// .await;
/// assert_eq!(n, 3, "still {n} polls after {waited:?}");
/// # }
/// ```
pub async fn wait_until<T, F, Fut>(
    timeout: Duration,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let value = probe().await;
        if done(&value) || started.elapsed() >= timeout {
            return (value, started.elapsed());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
