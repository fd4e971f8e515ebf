//! A log-linear histogram of durations kept in atomics and drained into a facade histogram
//! at scrape time: recording a value is a bucket index and one atomic add, where a facade
//! `Histogram::record` with the Prometheus exporter costs a clock read, an epoch pin and a
//! push of the raw value (about 175 instructions, docs/benchmarks.md "Metrics").
//!
//! ```text
//! bucket 0            [0, 1.024 µs)
//! buckets 1..=256     8 per doubling, from 2^10 ns (1.024 µs) to 2^42 ns (73 min);
//!                     longer durations land in the last
//! drain               each non-empty bucket: record_many(its midpoint, its count)
//! ```
//!
//! A drained value is its bucket's midpoint, within 1/16 (6.25 %) of the recorded one (the
//! widest bucket for its values is [8, 9) × 2^k, whose midpoint is 1/16 above 8 × 2^k), so
//! quantiles and the sum read from the drained histogram are within that of the truth; the
//! count is exact.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ::metrics::Histogram;

/// log2 of the lowest bucketed duration, in nanoseconds.
const LOW: u32 = 10;
/// log2 of the duration where the last doubling ends.
const HIGH: u32 = 42;
/// Buckets per doubling (a power of two).
const PER_DOUBLING: u32 = 8;
const SUB_BITS: u32 = PER_DOUBLING.trailing_zeros();
const BUCKETS: usize = 1 + ((HIGH - LOW) * PER_DOUBLING) as usize;

/// Durations counted by bucket until drained into `into`.
pub(crate) struct DurationBuckets {
    counts: Box<[AtomicU32]>,
    into: Histogram,
}

impl DurationBuckets {
    /// Empty buckets that drain into `into`.
    pub(crate) fn new(into: Histogram) -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            into,
        }
    }

    /// Counts `d`.
    #[inline]
    pub(crate) fn record(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(count) = self.counts.get(index(nanos)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands the counted durations to the histogram, each as its bucket's midpoint, and
    /// empties the buckets.
    pub(crate) fn drain(&self) {
        for (i, count) in self.counts.iter().enumerate() {
            if count.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let n = count.swap(0, Ordering::Relaxed);
            if n > 0 {
                self.into.record_many(
                    midpoint_nanos(i) / 1e9,
                    usize::try_from(n).unwrap_or(usize::MAX),
                );
            }
        }
    }
}

impl Drop for DurationBuckets {
    fn drop(&mut self) {
        self.drain();
    }
}

/// The bucket of a duration of `nanos`.
#[inline]
fn index(nanos: u64) -> usize {
    if nanos < 1 << LOW {
        return 0;
    }
    let log = 63 - nanos.leading_zeros();
    if log >= HIGH {
        return BUCKETS - 1;
    }
    // The `SUB_BITS` bits below the leading one pick the bucket within the doubling.
    let sub = (nanos >> (log - SUB_BITS)) as u32 & (PER_DOUBLING - 1);
    (1 + (log - LOW) * PER_DOUBLING + sub) as usize
}

/// The middle of bucket `i`, in nanoseconds.
fn midpoint_nanos(i: usize) -> f64 {
    let Some(k) = i.checked_sub(1) else {
        return f64::from(1u32 << LOW) / 2.0;
    };
    let k = k as u32;
    let (log, sub) = (LOW + k / PER_DOUBLING, k % PER_DOUBLING);
    let step = 2f64.powi((log - SUB_BITS) as i32);
    (f64::from(PER_DOUBLING + sub) + 0.5) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_lands_in_a_bucket_whose_midpoint_is_within_one_sixteenth() {
        let mut nanos = 1u64 << LOW;
        while nanos < 1 << HIGH {
            for n in [nanos, nanos + nanos / 3, nanos * 2 - 1] {
                let i = index(n);
                assert!((1..BUCKETS).contains(&i), "{n} -> {i}");
                let mid = midpoint_nanos(i);
                let error = (mid - n as f64).abs() / n as f64;
                assert!(error <= 1.0 / 16.0, "{n} -> {mid} ({error})");
            }
            nanos *= 2;
        }
    }

    #[test]
    fn buckets_are_ordered_and_the_ends_clamp() {
        assert_eq!(index(0), 0);
        assert_eq!(index((1 << LOW) - 1), 0);
        assert_eq!(index(1 << LOW), 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        let mut last = 0;
        for n in (0..40).map(|s| 3u64 << s) {
            let i = index(n);
            assert!(i >= last, "{n}: {i} < {last}");
            last = i;
        }
        for i in 1..BUCKETS {
            assert!(midpoint_nanos(i) > midpoint_nanos(i - 1));
        }
    }

    #[test]
    fn draining_hands_over_every_count_once() {
        let recorder = ::metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let buckets = DurationBuckets::new(::metrics::histogram!("held"));
            for ms in [1u64, 1, 2, 500] {
                buckets.record(Duration::from_millis(ms));
            }
            buckets.drain();
            buckets.drain();
        });
        let values: Vec<f64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .flat_map(|(_, _, _, v)| match v {
                ::metrics_util::debugging::DebugValue::Histogram(v) => {
                    v.into_iter().map(|x| x.into_inner()).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(values.len(), 4, "{values:?}");
        let sum: f64 = values.iter().sum();
        assert!((sum - 0.504).abs() / 0.504 < 1.0 / 16.0, "{sum}");
    }
}
