//! Held-too-long warnings: a connection checked out for longer than `pool.leak_warning_after`
//! is reported once per checkout, inside the span that was current when it was checked out.
//!
//! ```text
//! Manager::open ─────────▶ HeldWatch::register ─▶ Arc<HeldSlot>  (one per connection, in its
//!                                                                 PooledState; the pool's watch
//!                                                                 keeps a Weak)
//! PooledConnection::new ─▶ HeldSlot::checked_out   a clock read and a store (plus the span and
//!                                                  the tenant, under an uncontended mutex,
//!                                                  while WARN events here are enabled)
//! PooledConnection::drop ▶ HeldSlot::returned      a store (and the span and tenant dropped,
//!                                                  when kept)
//! maintenance tick ──────▶ HeldWatch::warn_overdue: one load per connection; a warning and the
//!                          `held_too_long` counter for each checkout past the threshold
//! ```
//!
//! The check rides on the maintenance tick, which runs anyway, instead of a timer per
//! checkout, which would cost every checkout a timer registration and its removal. The slot is
//! made once per connection, not per checkout, so a checkout allocates nothing for it.
//!
//! A checkout is identified by the instant it began (`since`, nanoseconds from the slot's
//! epoch), so the tick warns about each checkout once however many ticks it spans. No later
//! checkout of the same connection can start at the same instant: a warned checkout lasted
//! at least the threshold, which is more than zero.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tracing::Span;

use crate::lock::lock;
use crate::stats::Counters;
use crate::{DatabaseUrl, TenantId};

/// The checkout side of one pooled connection: when its current checkout began, and for whom.
pub(crate) struct HeldSlot {
    /// The origin of `since`: when the slot was made.
    epoch: Instant,
    /// Nanoseconds from `epoch` to the start of the current checkout, plus one; 0 while the
    /// connection is not checked out.
    since: AtomicU64,
    /// The `since` of the last checkout warned about; written by the maintenance tick only.
    warned: AtomicU64,
    /// Whether `context` holds the current checkout's span and tenant.
    has_context: AtomicBool,
    /// The span current at checkout and the checkout's tenant, kept only while this module's
    /// WARN events are enabled: with them off, a checkout skips the span and the tenant's
    /// reference count. The span stays open while the connection is out (normally a request
    /// returns its connection before its span closes).
    context: Mutex<Option<(Span, TenantId)>>,
}

impl HeldSlot {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            since: AtomicU64::new(0),
            warned: AtomicU64::new(0),
            has_context: AtomicBool::new(false),
            context: Mutex::new(None),
        }
    }

    /// Records the start of a checkout for `tenant`, at `now`.
    pub(crate) fn checked_out(&self, tenant: &TenantId, now: Instant) {
        if tracing::enabled!(tracing::Level::WARN) {
            *lock(&self.context) = Some((Span::current(), tenant.clone()));
            self.has_context.store(true, Ordering::Relaxed);
        }
        // Published after the context: a tick that reads this `since` finds this checkout's
        // context (see `overdue`).
        self.since.store(stamp(self.epoch, now), Ordering::Release);
    }

    /// Records the end of the checkout.
    pub(crate) fn returned(&self) {
        self.since.store(0, Ordering::Release);
        if self.has_context.load(Ordering::Relaxed) {
            self.has_context.store(false, Ordering::Relaxed);
            // Dropped after the lock is released: closing a span runs the subscriber's code.
            let context = lock(&self.context).take();
            drop(context);
        }
    }

    /// The current checkout, when it has been held for `after` or longer at `now` and was not
    /// reported yet; it counts as reported from here on.
    fn overdue(&self, now: Instant, after: Duration) -> Option<Overdue> {
        let since = self.since.load(Ordering::Acquire);
        if since == 0 || self.warned.load(Ordering::Relaxed) == since {
            return None;
        }
        let held = Duration::from_nanos(stamp(self.epoch, now).saturating_sub(since));
        if held < after {
            return None;
        }
        let context = {
            let context = lock(&self.context);
            // Still the same checkout: a return clears `since` before it takes the context,
            // and the next checkout stores its context before its `since`, so under the lock
            // an unchanged `since` means the context is this checkout's.
            if self.since.load(Ordering::Acquire) != since {
                return None;
            }
            context.clone()
        };
        self.warned.store(since, Ordering::Relaxed);
        Some(Overdue { held, context })
    }
}

/// Nanoseconds from `epoch` to `at`, plus one (0 means "not checked out").
fn stamp(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// A checkout past the threshold, as the tick found it.
struct Overdue {
    held: Duration,
    context: Option<(Span, TenantId)>,
}

/// One pool's slots and its threshold; walked by the maintenance tick.
pub(crate) struct HeldWatch {
    after: Duration,
    slots: Mutex<Vec<Weak<HeldSlot>>>,
}

impl HeldWatch {
    /// A watch for checkouts longer than `after`; `None` when `after` is zero (turned off).
    pub(crate) fn new(after: Duration) -> Option<Self> {
        (!after.is_zero()).then(|| Self {
            after,
            slots: Mutex::new(Vec::new()),
        })
    }

    /// The slot of a new connection. The connection holds it; the watch keeps a `Weak`, pruned
    /// on the tick (and here, before the list would grow), once the connection has closed.
    pub(crate) fn register(&self) -> Arc<HeldSlot> {
        let slot = Arc::new(HeldSlot::new());
        let mut slots = lock(&self.slots);
        if slots.len() == slots.capacity() {
            slots.retain(|s| s.strong_count() > 0);
        }
        slots.push(Arc::downgrade(&slot));
        slot
    }

    /// Warns about, and counts, every checkout of the pool on `url` held past the threshold
    /// and not reported yet.
    pub(crate) fn warn_overdue(&self, url: &DatabaseUrl, counters: &Counters) {
        let now = Instant::now();
        let overdue: Vec<Overdue> = {
            let mut slots = lock(&self.slots);
            slots.retain(|s| s.strong_count() > 0);
            slots
                .iter()
                .filter_map(Weak::upgrade)
                .filter_map(|s| s.overdue(now, self.after))
                .collect()
        };
        // Emitted outside the lock: a slow subscriber must not hold up new connections.
        for Overdue { held, context } in overdue {
            Counters::bump(&counters.held_too_long);
            match &context {
                Some((span, tenant)) => tracing::warn!(
                    parent: span,
                    tenant = %tenant,
                    target_db = %url,
                    held = ?held,
                    "a connection is held longer than pool.leak_warning_after (a leaked guard, or \
                     a long request or transaction)"
                ),
                // Checked out while this module's WARN events were off: no span, no tenant.
                None => tracing::warn!(
                    target_db = %url,
                    held = ?held,
                    "a connection is held longer than pool.leak_warning_after (a leaked guard, or \
                     a long request or transaction)"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn a_zero_threshold_turns_the_watch_off() {
        assert!(HeldWatch::new(Duration::ZERO).is_none());
        assert!(HeldWatch::new(Duration::from_millis(1)).is_some());
    }

    #[test]
    fn a_checkout_is_overdue_once_and_a_returned_one_never() {
        let slot = HeldSlot::new();
        let after = Duration::from_millis(10);
        slot.checked_out(&tenant(), Instant::now());
        let start = Instant::now();
        assert!(slot.overdue(start, after).is_none(), "overdue at once");
        let later = start + Duration::from_millis(50);
        let first = slot.overdue(later, after).map(|o| o.held);
        assert!(first.is_some_and(|h| h >= after), "{first:?}");
        assert!(
            slot.overdue(later + after, after).is_none(),
            "reported twice"
        );
        slot.returned();
        assert!(
            slot.overdue(later + after * 10, after).is_none(),
            "reported idle"
        );
        // The next checkout of the same connection is reported again.
        slot.checked_out(&tenant(), Instant::now());
        assert!(slot
            .overdue(Instant::now() + Duration::from_millis(50), after)
            .is_some());
    }

    #[test]
    fn closed_connections_leave_the_watch() {
        let watch = HeldWatch::new(Duration::from_secs(1)).unwrap();
        let kept = watch.register();
        for _ in 0..10 {
            drop(watch.register());
        }
        watch.warn_overdue(
            &DatabaseUrl::parse("sqlite://x.db").unwrap(),
            &Counters::default(),
        );
        assert_eq!(lock(&watch.slots).len(), 1);
        drop(kept);
    }
}
