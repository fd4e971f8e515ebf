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
//! most same-schema picks pass over everyone queued ahead, so a bound on skips turns the queue
//! back into first-come-first-served almost at once (docs/benchmarks.md has the figures).
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

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::lock::lock;
use crate::SchemaName;

/// What a waiter receives: the returned item (a pooled connection), with the returning
/// tenant's share permit when the waiter waited for that share.
pub(crate) type Handoff<T> = (T, Option<OwnedSemaphorePermit>);

struct Waiter<T> {
    schema: SchemaName,
    /// Set when the waiter waits for this tenant share: only a return that brings a permit of
    /// it can serve the waiter.
    share: Option<Arc<Semaphore>>,
    /// When it queued.
    since: Instant,
    tx: oneshot::Sender<Handoff<T>>,
}

impl<T> Waiter<T> {
    /// Whether a return holding `permit` can serve this waiter.
    fn can_take(&self, permit: Option<&OwnedSemaphorePermit>) -> bool {
        match (&self.share, permit) {
            (None, _) => true,
            (Some(share), Some(permit)) => Arc::ptr_eq(share, permit.semaphore()),
            (Some(_), None) => false,
        }
    }
}

/// The queue of checkouts waiting on an exhausted shared pool, for items of type `T` (the
/// pool's connections; anything in the unit tests).
pub(crate) struct Affinity<T> {
    waiting: Mutex<VecDeque<Waiter<T>>>,
    /// How long a waiter may be passed over.
    max_delay: Duration,
}

/// What became of an offered item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer<T> {
    /// A waiter took it; `same_schema` when it was on the waiter's schema.
    Taken { same_schema: bool },
    /// No waiter can take it: it goes back to the pool.
    Declined(T),
}

impl<T> Affinity<T> {
    /// An empty queue whose waiters may be passed over for `max_delay`.
    pub(crate) fn new(max_delay: Duration) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            max_delay,
        }
    }

    /// Queues a checkout for `schema`; the receiver gets a connection handed over directly.
    pub(crate) fn wait_for(&self, schema: &SchemaName) -> oneshot::Receiver<Handoff<T>> {
        self.enqueue(schema, None)
    }

    /// Queues a checkout for `schema` that waits for a permit of its tenant's `share`: only
    /// that tenant's returns serve it, handing over their connection and their permit.
    pub(crate) fn wait_for_share(
        &self,
        schema: &SchemaName,
        share: &Arc<Semaphore>,
    ) -> oneshot::Receiver<Handoff<T>> {
        self.enqueue(schema, Some(share.clone()))
    }

    fn enqueue(
        &self,
        schema: &SchemaName,
        share: Option<Arc<Semaphore>>,
    ) -> oneshot::Receiver<Handoff<T>> {
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
        mut obj: T,
        schema: Option<&SchemaName>,
        permit: &mut Option<OwnedSemaphorePermit>,
    ) -> Offer<T> {
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
fn choose<T>(
    waiting: &VecDeque<Waiter<T>>,
    schema: Option<&SchemaName>,
    permit: Option<&OwnedSemaphorePermit>,
    max_delay: Duration,
) -> Option<usize> {
    let eligible = |w: &Waiter<T>| w.can_take(permit);
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

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn schema(name: &str) -> SchemaName {
        SchemaName::parse(name).unwrap()
    }

    fn received<T>(rx: &mut oneshot::Receiver<Handoff<T>>) -> Option<Handoff<T>> {
        rx.try_recv().ok()
    }

    #[test]
    fn a_return_goes_to_the_first_waiter_on_its_schema() {
        let queue = Affinity::<u32>::new(LONG);
        let mut far = queue.wait_for(&schema("far"));
        let mut near = queue.wait_for(&schema("near"));
        let offer = queue.offer(7, Some(&schema("near")), &mut None);
        assert_eq!(offer, Offer::Taken { same_schema: true });
        assert_eq!(
            received(&mut near).map(|(n, p)| (n, p.is_none())),
            Some((7, true))
        );
        assert!(
            received(&mut far).is_none(),
            "the far waiter was served first"
        );
        assert!(!queue.is_empty(), "the far waiter still waits");
    }

    #[test]
    fn without_a_waiter_on_its_schema_a_return_goes_to_the_first_waiter() {
        let queue = Affinity::<u32>::new(LONG);
        let mut first = queue.wait_for(&schema("a"));
        let mut second = queue.wait_for(&schema("b"));
        let offer = queue.offer(1, Some(&schema("c")), &mut None);
        assert_eq!(offer, Offer::Taken { same_schema: false });
        assert_eq!(received(&mut first).map(|(n, _)| n), Some(1));
        assert!(received(&mut second).is_none());
        // A connection on no known schema also goes to the first waiter.
        assert_eq!(
            queue.offer(2, None, &mut None),
            Offer::Taken { same_schema: false }
        );
        assert_eq!(received(&mut second).map(|(n, _)| n), Some(2));
        assert!(queue.is_empty());
    }

    #[test]
    fn a_waiter_past_the_delay_is_served_before_a_waiter_on_the_schema() {
        let queue = Affinity::<u32>::new(Duration::ZERO);
        let mut far = queue.wait_for(&schema("far"));
        let mut near = queue.wait_for(&schema("near"));
        let offer = queue.offer(3, Some(&schema("near")), &mut None);
        assert_eq!(offer, Offer::Taken { same_schema: false });
        assert_eq!(received(&mut far).map(|(n, _)| n), Some(3), "oldest first");
        assert!(received(&mut near).is_none());
    }

    #[test]
    fn an_empty_queue_or_gone_waiters_decline_the_return() {
        let queue = Affinity::<u32>::new(LONG);
        assert_eq!(queue.offer(4, None, &mut None), Offer::Declined(4));
        let gone = queue.wait_for(&schema("a"));
        drop(gone);
        let mut live = queue.wait_for(&schema("b"));
        assert_eq!(
            queue.offer(5, Some(&schema("a")), &mut None),
            Offer::Taken { same_schema: false },
            "the waiter that gave up is skipped"
        );
        assert_eq!(received(&mut live).map(|(n, _)| n), Some(5));
        assert!(queue.is_empty(), "gone waiters are pruned");
    }

    #[test]
    fn a_share_waiter_is_served_only_by_its_own_tenant_with_the_permit() {
        let queue = Affinity::<u32>::new(Duration::ZERO);
        let acme = Arc::new(Semaphore::new(1));
        let globex = Arc::new(Semaphore::new(1));
        let mut waiter = queue.wait_for_share(&schema("acme"), &acme);

        // A return without a permit, or with another tenant's, cannot serve it.
        assert_eq!(
            queue.offer(1, Some(&schema("acme")), &mut None),
            Offer::Declined(1)
        );
        let mut other = Some(globex.clone().try_acquire_owned().unwrap());
        assert_eq!(
            queue.offer(2, Some(&schema("acme")), &mut other),
            Offer::Declined(2)
        );
        assert!(other.is_some(), "the other tenant keeps its permit");

        // Its own tenant's return serves it, permit included.
        let mut own = Some(acme.clone().try_acquire_owned().unwrap());
        assert_eq!(
            queue.offer(3, Some(&schema("acme")), &mut own),
            Offer::Taken { same_schema: true }
        );
        assert!(own.is_none(), "the permit went along");
        let (item, permit) = received(&mut waiter).unwrap();
        assert_eq!(item, 3);
        let permit = permit.unwrap();
        assert!(Arc::ptr_eq(permit.semaphore(), &acme));
        assert_eq!(acme.available_permits(), 0, "the cap still holds");
    }

    #[test]
    fn a_plain_waiter_leaves_the_permit_with_the_returning_checkout() {
        let queue = Affinity::<u32>::new(LONG);
        let share = Arc::new(Semaphore::new(1));
        let mut waiter = queue.wait_for(&schema("a"));
        let mut permit = Some(share.clone().try_acquire_owned().unwrap());
        assert_eq!(
            queue.offer(9, Some(&schema("a")), &mut permit),
            Offer::Taken { same_schema: true }
        );
        assert!(permit.is_some());
        assert!(received(&mut waiter).unwrap().1.is_none());
    }
}
