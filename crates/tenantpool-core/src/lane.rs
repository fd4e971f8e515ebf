//! Lanes: one sub-pool per target for each worker thread that checks out.
//!
//! An actix-web server runs one single-threaded runtime per worker. With one pool per target
//! shared by every worker, a query often travels to the thread that drives its connection and
//! back, costing context switches on every query. With `runtime.lanes` set to the number of
//! workers, each worker thread is given a lane the first time it checks out, and a tenant's
//! checkouts from that thread use the lane's own pool, whose connections that worker opened
//! and drives. The lanes of a target split its `max_size` and draw on the same server
//! budget, which steals idle connections across lanes like across any pools.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;

use crate::budget::lock;

/// Most lanes a registry may have.
pub(crate) const MAX_LANES: usize = 64;

/// Threads remembered per registry before the assignment starts over (threads that come and
/// go, such as blocking-pool threads, would otherwise grow the map without end).
const MAX_THREADS: usize = 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// `(registry lanes id, lane)` for the registries this thread checked out from lately.
    static ASSIGNED: RefCell<Vec<(u64, usize)>> = const { RefCell::new(Vec::new()) };
}

/// A registry's lanes and which thread uses which.
pub(crate) struct Lanes {
    id: u64,
    count: usize,
    threads: Mutex<HashMap<ThreadId, usize>>,
}

impl Lanes {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            count: count.clamp(1, MAX_LANES),
            threads: Mutex::new(HashMap::new()),
        }
    }

    /// How many lanes (1 unless configured).
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The calling thread's lane: assigned at its first checkout, round robin.
    pub(crate) fn current(&self) -> usize {
        if self.count == 1 {
            return 0;
        }
        ASSIGNED
            .try_with(|assigned| {
                let mut assigned = assigned.borrow_mut();
                if let Some(&(_, lane)) = assigned.iter().find(|(id, _)| *id == self.id) {
                    return lane;
                }
                let lane = self.assign();
                if assigned.len() >= 16 {
                    assigned.remove(0);
                }
                assigned.push((self.id, lane));
                lane
            })
            .unwrap_or_else(|_| self.assign())
    }

    fn assign(&self) -> usize {
        let mut threads = lock(&self.threads);
        if threads.len() >= MAX_THREADS {
            threads.clear();
        }
        let next = threads.len() % self.count;
        *threads.entry(std::thread::current().id()).or_insert(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lane_is_always_lane_zero() {
        let lanes = Lanes::new(1);
        assert_eq!(lanes.current(), 0);
        let other = std::thread::spawn(move || lanes.current()).join().unwrap();
        assert_eq!(other, 0);
    }

    #[test]
    fn threads_get_lanes_round_robin_and_keep_them() {
        let lanes = std::sync::Arc::new(Lanes::new(2));
        let mine = lanes.current();
        assert_eq!(lanes.current(), mine, "a thread keeps its lane");
        let l = lanes.clone();
        let theirs = std::thread::spawn(move || (l.current(), l.current()))
            .join()
            .unwrap();
        assert_eq!(theirs.0, theirs.1);
        assert_ne!(theirs.0, mine, "the second thread gets the other lane");
        let l = lanes.clone();
        let third = std::thread::spawn(move || l.current()).join().unwrap();
        assert_eq!(third, mine, "the third wraps around");
    }

    #[test]
    fn registries_assign_lanes_independently() {
        let a = Lanes::new(2);
        let b = Lanes::new(3);
        assert_eq!(a.current(), 0);
        assert_eq!(b.current(), 0);
        assert_eq!(a.count(), 2);
        assert_eq!(Lanes::new(0).count(), 1);
        assert_eq!(Lanes::new(1000).count(), MAX_LANES);
    }
}
