//! Schema affinity in shared pools: a returned connection goes first to a checkout waiting for
//! the schema it is already on.
//!
//! In schema mode every checkout whose connection was last used by another tenant pays a
//! `SET search_path` (or `USE`) round trip. When the pool is exhausted and checkouts wait, the
//! pool would hand a returned connection to whichever waiter comes first, and under a skewed
//! load that is almost never a waiter of the same tenant. Waiters of a shared pool therefore
//! queue here too, with their schema; a connection coming back is handed directly to the first
//! waiter on its schema, else to the first waiter. A waiter that has waited
//! `pool.affinity_max_delay` (8 ms by default) is served next (the oldest first) whatever its
//! schema, so affinity never starves a tenant and delays nobody by more than that.
//!
//! The bound is a time, not a count of times a waiter was passed over: with dozens of waiters,
//! most same-schema picks pass over everyone queued ahead, and a bound of four skips turned
//! the queue back into first-come-first-served almost at once. Measured on the benchmark's C1
//! load (64 concurrent requests, 10 connections, 1,000 tenants): four skips left 73 % of
//! checkouts switching schemas and C1's p99 at 24 ms; a time bound of 2 ms 91 %, 5 ms 73 %,
//! 8 and 16 ms 55 % with a p99 of 11 ms.
//!
//! A checkout that waits for its tenant's fair share (the tenant already holds its cap of the
//! pool's connections) queues here too, marked with the tenant's share: a connection coming
//! back from the same tenant is handed over together with that tenant's share permit, still on
//! the tenant's schema. Without this, the busiest tenants' waiters would sit on their share
//! semaphores, invisible to affinity, while their returned connections went to other tenants
//! and the waiters, once let through, took connections on other schemas: two switches where
//! none is needed. Such a waiter can only be served by its own tenant's return, so it does not
//! take part in the in-order service of waiters past their time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::Object;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::backend::Backend;
use crate::budget::lock;
use crate::pool::Manager;
use crate::SchemaName;

/// A connection handed to a waiter, with the returning tenant's share permit when the waiter
/// waited for that share.
pub(crate) type Handoff<C> = (Object<Manager<C>>, Option<OwnedSemaphorePermit>);

struct Waiter<C: Backend> {
    schema: SchemaName,
    /// Set when the waiter waits for this tenant share: only a return that brings a permit of
    /// it can serve the waiter.
    share: Option<Arc<Semaphore>>,
    /// When it queued.
    since: Instant,
    tx: oneshot::Sender<Handoff<C>>,
}

impl<C: Backend> Waiter<C> {
    /// Whether a return holding `permit` can serve this waiter.
    fn can_take(&self, permit: Option<&OwnedSemaphorePermit>) -> bool {
        match (&self.share, permit) {
            (None, _) => true,
            (Some(share), Some(permit)) => Arc::ptr_eq(share, permit.semaphore()),
            (Some(_), None) => false,
        }
    }
}

/// The queue of checkouts waiting on an exhausted shared pool.
pub(crate) struct Affinity<C: Backend> {
    waiting: Mutex<VecDeque<Waiter<C>>>,
    /// How long a waiter may be passed over.
    max_delay: Duration,
}

/// What became of an offered connection.
pub(crate) enum Offer<C: Backend> {
    /// A waiter took it; `same_schema` when it was on the waiter's schema.
    Taken { same_schema: bool },
    /// Nobody waits: it goes back to the pool.
    Declined(Object<Manager<C>>),
}

impl<C: Backend> Affinity<C> {
    /// An empty queue whose waiters may be passed over for `max_delay`.
    pub(crate) fn new(max_delay: Duration) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            max_delay,
        }
    }

    /// Queues a checkout for `schema`; the receiver gets a connection handed over directly.
    pub(crate) fn wait_for(&self, schema: &SchemaName) -> oneshot::Receiver<Handoff<C>> {
        self.enqueue(schema, None)
    }

    /// Queues a checkout for `schema` that waits for a permit of its tenant's `share`: only
    /// that tenant's returns serve it, handing over their connection and their permit.
    pub(crate) fn wait_for_share(
        &self,
        schema: &SchemaName,
        share: &Arc<Semaphore>,
    ) -> oneshot::Receiver<Handoff<C>> {
        self.enqueue(schema, Some(share.clone()))
    }

    fn enqueue(
        &self,
        schema: &SchemaName,
        share: Option<Arc<Semaphore>>,
    ) -> oneshot::Receiver<Handoff<C>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).push_back(Waiter {
            schema: schema.clone(),
            share,
            since: Instant::now(),
            tx,
        });
        rx
    }

    /// True when no checkout waits here (one lock, taken only on a shared pool's return).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.waiting).is_empty()
    }

    /// Offers a returned connection, on `schema` (if known), to the waiters. `permit` is the
    /// returning checkout's share permit: it goes along to a waiter of the same tenant that
    /// waits for its share, and stays with the caller otherwise.
    pub(crate) fn offer(
        &self,
        mut obj: Object<Manager<C>>,
        schema: Option<&SchemaName>,
        permit: &mut Option<OwnedSemaphorePermit>,
    ) -> Offer<C> {
        let mut waiting = lock(&self.waiting);
        loop {
            waiting.retain(|w| !w.tx.is_closed());
            let Some(pick) = choose(&waiting, schema, permit.as_ref(), self.max_delay) else {
                return Offer::Declined(obj);
            };
            let Some(waiter) = waiting.remove(pick) else {
                return Offer::Declined(obj);
            };
            let same_schema = schema.is_some_and(|s| s.same(&waiter.schema));
            let handed = match waiter.share {
                Some(_) => permit.take(),
                None => None,
            };
            match waiter.tx.send((obj, handed)) {
                Ok(()) => return Offer::Taken { same_schema },
                // The waiter gave up between the check and the send: try the next one.
                Err((returned, handed)) => {
                    obj = returned;
                    if handed.is_some() {
                        *permit = handed;
                    }
                }
            }
        }
    }
}

/// The waiter to serve, among those the return can serve: the first one that has waited
/// `max_delay`, else the first one on the connection's schema, else the first one.
fn choose<C: Backend>(
    waiting: &VecDeque<Waiter<C>>,
    schema: Option<&SchemaName>,
    permit: Option<&OwnedSemaphorePermit>,
    max_delay: Duration,
) -> Option<usize> {
    let eligible = |w: &Waiter<C>| w.can_take(permit);
    let now = Instant::now();
    if let Some(i) = waiting
        .iter()
        .position(|w| w.share.is_none() && now.duration_since(w.since) >= max_delay && eligible(w))
    {
        return Some(i);
    }
    let same = schema.and_then(|s| waiting.iter().position(|w| w.schema.same(s) && eligible(w)));
    same.or_else(|| waiting.iter().position(eligible))
}
