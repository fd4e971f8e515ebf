//! A per-thread front for the tenant cache: the hot path's lookup without moka's bookkeeping.
//!
//! A moka hit costs about 800 instructions (hashing, the concurrent table, an expiry check
//! against its clock, the read-recording channel and, every few reads, its deque
//! housekeeping). A thread that checks out for the same few tenants over and over (an actix
//! worker serving a busy tenant) keeps the last entries it looked up in a few thread-local
//! slots instead, and goes back to moka at least every `refresh`, so that moka's time-to-idle
//! and LRU order still see the tenant as used. `refresh` is a small fraction of the time to
//! idle, so a tenant in use never expires because of the front.
//!
//! The slots hold `Weak` references: they keep no entry (and so no pool) alive, and an entry
//! dropped by the cache is gone from the front too. Any removal from the cache (eviction,
//! expiry, replacement, explicit `evict`) bumps the registry's generation, which empties every
//! thread's slots for it at once; a slot filled from a lookup that raced with a removal carries
//! the generation read *before* the lookup, so it is born stale.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::TenantId;

/// Slots per thread, shared by every registry used on the thread.
const SLOTS: usize = 4;

/// The longest time between two moka lookups of a tenant in use, per thread.
const MAX_REFRESH: Duration = Duration::from_millis(100);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Slot {
    front: u64,
    generation: u64,
    tenant: TenantId,
    entry: Weak<dyn Any + Send + Sync>,
    until: Instant,
}

#[derive(Default)]
struct Slots {
    slots: [Option<Slot>; SLOTS],
    next: usize,
    /// Addresses of the entries lately looked up in the cache and not filed: an entry is
    /// filed at its second lookup among the last few, so that a thread rotating over many
    /// tenants does not pay for filing entries it will not look up again soon.
    seen: [usize; SLOTS],
    seen_next: usize,
}

thread_local! {
    static THREAD: RefCell<Slots> = RefCell::default();
}

/// One registry's front: its identity among the thread's slots and its generation.
pub(crate) struct Front {
    id: u64,
    generation: AtomicU64,
    refresh: Duration,
}

/// The generation read before a cache lookup, to file its result under.
#[derive(Clone, Copy)]
pub(crate) struct Token(u64);

impl Front {
    /// A front that refreshes through the cache at least every `time_to_idle / 32` (at most
    /// 100 ms).
    pub(crate) fn new(time_to_idle: Duration) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            refresh: (time_to_idle / 32).min(MAX_REFRESH),
        }
    }

    /// Empties every thread's slots for this registry.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Read before a cache lookup whose result may be filed with [`Front::put`].
    pub(crate) fn token(&self) -> Token {
        Token(self.generation.load(Ordering::Acquire))
    }

    /// The entry this thread filed for `tenant`, if still current.
    pub(crate) fn get<T: Any + Send + Sync>(&self, tenant: &TenantId) -> Option<Arc<T>> {
        if self.refresh.is_zero() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        THREAD
            .try_with(|thread| {
                let thread = thread.borrow();
                let slot = thread
                    .slots
                    .iter()
                    .flatten()
                    .find(|s| s.front == self.id && s.tenant == *tenant)?;
                if slot.generation != generation || crate::clock::now() >= slot.until {
                    return None;
                }
                slot.entry.upgrade()?.downcast::<T>().ok()
            })
            .ok()
            .flatten()
    }

    /// Files `entry`, found in the cache for `tenant` by a lookup that started at `token`, if
    /// this thread looked it up lately too.
    pub(crate) fn put<T: Any + Send + Sync>(
        &self,
        tenant: &TenantId,
        entry: &Arc<T>,
        token: Token,
    ) {
        if self.refresh.is_zero() {
            return;
        }
        let address = Arc::as_ptr(entry) as *const () as usize;
        let again = THREAD
            .try_with(|thread| {
                let mut thread = thread.borrow_mut();
                if thread.seen.contains(&address) {
                    return true;
                }
                let i = thread.seen_next % SLOTS;
                thread.seen[i] = address;
                thread.seen_next = thread.seen_next.wrapping_add(1);
                false
            })
            .unwrap_or(false);
        if !again {
            return;
        }
        let entry: Arc<dyn Any + Send + Sync> = entry.clone();
        let slot = Slot {
            front: self.id,
            generation: token.0,
            tenant: tenant.clone(),
            entry: Arc::downgrade(&entry),
            until: crate::clock::now() + self.refresh,
        };
        let _ = THREAD.try_with(|thread| {
            let mut thread = thread.borrow_mut();
            let at = match thread.slots.iter().position(|s| {
                s.as_ref()
                    .is_some_and(|s| s.front == self.id && s.tenant == *tenant)
            }) {
                Some(i) => i,
                None => {
                    let i = thread.next % SLOTS;
                    thread.next = thread.next.wrapping_add(1);
                    i
                }
            };
            thread.slots[at] = Some(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(key: &str) -> TenantId {
        TenantId::parse(key).unwrap()
    }

    #[test]
    fn a_filed_entry_is_found_on_its_thread_only() {
        let front = Arc::new(Front::new(Duration::from_secs(60)));
        let entry = Arc::new(7_u32);
        front.put(&tenant("acme"), &entry, front.token());
        assert!(
            front.get::<u32>(&tenant("acme")).is_none(),
            "filed at the second lookup"
        );
        front.put(&tenant("acme"), &entry, front.token());
        assert_eq!(front.get::<u32>(&tenant("acme")).as_deref(), Some(&7));
        assert!(front.get::<u32>(&tenant("globex")).is_none());
        assert!(front.get::<u64>(&tenant("acme")).is_none(), "wrong type");
        let f = front.clone();
        let elsewhere = std::thread::spawn(move || f.get::<u32>(&tenant("acme")).is_some())
            .join()
            .unwrap();
        assert!(!elsewhere);
    }

    #[test]
    fn slots_keep_nothing_alive() {
        let front = Front::new(Duration::from_secs(60));
        let entry = Arc::new(String::from("pool"));
        front.put(&tenant("acme"), &entry, front.token());
        front.put(&tenant("acme"), &entry, front.token());
        assert!(front.get::<String>(&tenant("acme")).is_some());
        drop(entry);
        assert!(front.get::<String>(&tenant("acme")).is_none());
    }

    #[test]
    fn invalidation_empties_the_slots_and_a_racing_lookup_is_born_stale() {
        let front = Front::new(Duration::from_secs(60));
        let entry = Arc::new(1_u8);
        front.put(&tenant("acme"), &entry, front.token());
        front.put(&tenant("acme"), &entry, front.token());
        assert!(front.get::<u8>(&tenant("acme")).is_some());
        front.invalidate();
        assert!(front.get::<u8>(&tenant("acme")).is_none());

        let token = front.token();
        front.invalidate(); // a removal between the lookup and the filing
        front.put(&tenant("acme"), &entry, token);
        assert!(front.get::<u8>(&tenant("acme")).is_none());
    }

    #[test]
    fn entries_expire_after_the_refresh_interval() {
        let front = Front::new(Duration::from_millis(320)); // refresh 10 ms
        let entry = Arc::new(1_u8);
        front.put(&tenant("acme"), &entry, front.token());
        front.put(&tenant("acme"), &entry, front.token());
        assert!(front.get::<u8>(&tenant("acme")).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(front.get::<u8>(&tenant("acme")).is_none());
    }

    #[test]
    fn a_thread_rotating_over_many_tenants_files_none() {
        let front = Front::new(Duration::from_secs(60));
        let entries: Vec<_> = (0..100).map(|i| Arc::new(i as u32)).collect();
        for _ in 0..3 {
            for (i, e) in entries.iter().enumerate() {
                front.put(&tenant(&format!("t{i}")), e, front.token());
            }
        }
        assert!((0..100).all(|i| front.get::<u32>(&tenant(&format!("t{i}"))).is_none()));
    }

    #[test]
    fn registries_do_not_see_each_other_and_slots_rotate() {
        let (a, b) = (
            Front::new(Duration::from_secs(60)),
            Front::new(Duration::from_secs(60)),
        );
        let entry = Arc::new(1_u8);
        a.put(&tenant("acme"), &entry, a.token());
        a.put(&tenant("acme"), &entry, a.token());
        assert!(a.get::<u8>(&tenant("acme")).is_some());
        assert!(b.get::<u8>(&tenant("acme")).is_none());
        let keep: Vec<_> = (0..SLOTS).map(|i| Arc::new(i as u8)).collect();
        for (i, e) in keep.iter().enumerate() {
            b.put(&tenant(&format!("t{i}")), e, b.token());
            b.put(&tenant(&format!("t{i}")), e, b.token());
        }
        assert!(a.get::<u8>(&tenant("acme")).is_none(), "rotated out");
        assert!((0..SLOTS).all(|i| b.get::<u8>(&tenant(&format!("t{i}"))).is_some()));
    }
}
