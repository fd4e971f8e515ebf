//! The K greatest of a stream, in one pass: a min-heap of at most K entries, so that n offers
//! cost O(n log K) comparisons and the heap never holds more than K items.
//!
//! The per-tenant lists of the stats snapshot rank every cached tenant this way (see
//! `pressure`); so can an exporter that names only the busiest tenants.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The `k` items with the greatest keys offered so far.
pub(crate) struct TopK<K: Ord, T> {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked<K, T>>>,
}

/// An item and the key it is ranked by (the item itself takes no part in comparisons).
struct Ranked<K, T> {
    key: K,
    item: T,
}

impl<K: Ord, T> PartialEq for Ranked<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<K: Ord, T> Eq for Ranked<K, T> {}

impl<K: Ord, T> PartialOrd for Ranked<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K: Ord, T> Ord for Ranked<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl<K: Ord, T> TopK<K, T> {
    /// Keeps the `k` greatest; `k = 0` keeps nothing.
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::new(),
        }
    }

    /// Offers an item ranked by `key`; `make` builds it only when it is kept (for now: a
    /// later, greater key can still push it out).
    pub(crate) fn offer(&mut self, key: K, make: impl FnOnce() -> T) {
        if self.heap.len() < self.k {
            self.heap.push(Reverse(Ranked { key, item: make() }));
        } else if let Some(mut least) = self.heap.peek_mut() {
            if key > least.0.key {
                *least = Reverse(Ranked { key, item: make() });
            }
        }
    }

    /// The items kept, greatest key first.
    pub(crate) fn into_sorted(self) -> Vec<T> {
        // Ascending order of `Reverse` is descending order of the keys.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| r.item)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(k: usize, keys: &[u32]) -> Vec<u32> {
        let mut top = TopK::new(k);
        for &key in keys {
            top.offer(key, || key);
        }
        top.into_sorted()
    }

    #[test]
    fn keeps_the_k_greatest_greatest_first() {
        assert_eq!(top(3, &[5, 1, 9, 7, 3, 8, 2]), vec![9, 8, 7]);
        assert_eq!(top(10, &[5, 1, 9]), vec![9, 5, 1]);
        assert_eq!(top(0, &[5, 1, 9]), Vec::<u32>::new());
        assert_eq!(top(2, &[]), Vec::<u32>::new());
    }

    #[test]
    fn builds_only_the_items_it_keeps_and_holds_at_most_k() {
        let mut top = TopK::new(2);
        let mut built = 0;
        for key in [1, 2, 0, 3, 0, 0] {
            top.offer(key, || {
                built += 1;
                key
            });
            assert!(top.heap.len() <= 2);
        }
        // 1 and 2 fill it, 3 replaces 1; the zeros are never built.
        assert_eq!(built, 3);
        assert_eq!(top.into_sorted(), vec![3, 2]);
    }

    #[test]
    fn equal_keys_rank_by_their_tie_breaker() {
        // (score, Reverse(name)): the greater score first, then the name in ascending order.
        let mut top = TopK::new(3);
        for (score, name) in [(2, "c"), (2, "a"), (5, "z"), (2, "b")] {
            top.offer((score, Reverse(name)), || name);
        }
        assert_eq!(top.into_sorted(), vec!["z", "a", "b"]);
    }
}
