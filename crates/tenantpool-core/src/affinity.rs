//! Schema affinity in shared pools: a returned connection goes first to a checkout waiting for
//! the schema it is already on.
//!
//! In schema mode every checkout whose connection was last used by another tenant pays a
//! `SET search_path` (or `USE`) round trip. When the pool is exhausted and checkouts wait, the
//! pool would hand a returned connection to whichever waiter comes first, and under a skewed
//! load that is almost never a waiter of the same tenant. Waiters of a shared pool therefore
//! queue here too, with their schema; a connection coming back is handed directly to the first
//! waiter on its schema, else to the first waiter. A waiter passed over [`MAX_SKIPS`] times is
//! served next whatever its schema, so affinity never starves a tenant.

use std::collections::VecDeque;
use std::sync::Mutex;

use deadpool::managed::Object;
use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::budget::lock;
use crate::pool::Manager;
use crate::SchemaName;

/// How many times a waiter may be passed over for a waiter of the returned connection's schema.
pub(crate) const MAX_SKIPS: u32 = 4;

struct Waiter<C: Backend> {
    schema: SchemaName,
    skipped: u32,
    tx: oneshot::Sender<Object<Manager<C>>>,
}

/// The queue of checkouts waiting on an exhausted shared pool.
pub(crate) struct Affinity<C: Backend> {
    waiting: Mutex<VecDeque<Waiter<C>>>,
}

/// What became of an offered connection.
pub(crate) enum Offer<C: Backend> {
    /// A waiter took it; `same_schema` when it was on the waiter's schema.
    Taken { same_schema: bool },
    /// Nobody waits: it goes back to the pool.
    Declined(Object<Manager<C>>),
}

impl<C: Backend> Default for Affinity<C> {
    fn default() -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
        }
    }
}

impl<C: Backend> Affinity<C> {
    /// Queues a checkout for `schema`; the receiver gets a connection handed over directly.
    pub(crate) fn wait_for(&self, schema: &SchemaName) -> oneshot::Receiver<Object<Manager<C>>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).push_back(Waiter {
            schema: schema.clone(),
            skipped: 0,
            tx,
        });
        rx
    }

    /// True when no checkout waits here (one lock, taken only on a shared pool's return).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.waiting).is_empty()
    }

    /// Offers a returned connection, on `schema` (if known), to the waiters.
    pub(crate) fn offer(
        &self,
        mut obj: Object<Manager<C>>,
        schema: Option<&SchemaName>,
    ) -> Offer<C> {
        let mut waiting = lock(&self.waiting);
        loop {
            waiting.retain(|w| !w.tx.is_closed());
            let Some(pick) = choose(&waiting, schema) else {
                return Offer::Declined(obj);
            };
            for w in waiting.iter_mut().take(pick) {
                w.skipped += 1;
            }
            let Some(waiter) = waiting.remove(pick) else {
                return Offer::Declined(obj);
            };
            let same_schema = schema.is_some_and(|s| s.same(&waiter.schema));
            match waiter.tx.send(obj) {
                Ok(()) => return Offer::Taken { same_schema },
                // The waiter gave up between the check and the send: try the next one.
                Err(returned) => obj = returned,
            }
        }
    }
}

/// The waiter to serve: the first one passed over too often, else the first one on the
/// connection's schema, else the first one.
fn choose<C: Backend>(waiting: &VecDeque<Waiter<C>>, schema: Option<&SchemaName>) -> Option<usize> {
    if waiting.is_empty() {
        return None;
    }
    if let Some(i) = waiting.iter().position(|w| w.skipped >= MAX_SKIPS) {
        return Some(i);
    }
    let same = schema.and_then(|s| waiting.iter().position(|w| w.schema.same(s)));
    Some(same.unwrap_or(0))
}
