//! The figures recorded where the event happens: histogram handles created once per pool
//! and per registry, and the clock marks they need. Zero-sized and empty without the
//! `metrics` feature.

#[cfg(feature = "metrics")]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::time::Instant;

#[cfg(feature = "metrics")]
use ::metrics::Histogram;

#[cfg(feature = "metrics")]
use super::buckets::DurationBuckets;

use crate::{BackendKind, ServerKey};

/// The histograms of a server's pools, labelled with its server and backend; the pools on
/// one server share them (clones share everything).
///
/// The two figures recorded at every checkout stay out of the recorder until scrape time
/// ([`Self::flush`]): a checkout served at once is only counted (its wait of 0 reaches the
/// wait histogram at the flush), and the held time goes into [`DurationBuckets`]. A warm
/// checkout then pays an atomic add for each instead of a push into the recorder (about 175
/// instructions each with the Prometheus exporter, docs/benchmarks.md "Metrics").
#[derive(Clone)]
pub(crate) struct PoolMetrics {
    #[cfg(feature = "metrics")]
    inner: Arc<Histograms>,
}

#[cfg(feature = "metrics")]
struct Histograms {
    checkout_wait: Histogram,
    /// Checkouts served at once since the last flush.
    served_at_once: AtomicU64,
    connect: Histogram,
    held: DurationBuckets,
}

impl PoolMetrics {
    /// The handles of the pools on `server`: one registration each, here, not per event.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(server: &ServerKey, backend: BackendKind) -> Self {
        #[cfg(feature = "metrics")]
        {
            let labels = [
                ("server", server.as_str().to_owned()),
                ("backend", backend.to_string()),
            ];
            Self {
                inner: Arc::new(Histograms {
                    checkout_wait: ::metrics::histogram!(super::CHECKOUT_WAIT, &labels),
                    served_at_once: AtomicU64::new(0),
                    connect: ::metrics::histogram!(super::CONNECT_TIME, &labels),
                    held: DurationBuckets::new(::metrics::histogram!(super::HELD_TIME, &labels)),
                }),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// A checkout ended (served or failed) at its first poll, without waiting.
    #[inline]
    pub(crate) fn served_at_once(&self) {
        #[cfg(feature = "metrics")]
        self.inner.served_at_once.fetch_add(1, Ordering::Relaxed);
    }

    /// A checkout that waited as `clock` says ended (served, failed or timed out).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn waited(&self, clock: &WaitClock) {
        #[cfg(feature = "metrics")]
        if let Some(since) = clock.since {
            self.inner
                .checkout_wait
                .record(since.elapsed().as_secs_f64());
        }
    }

    /// A connect begun at `since` succeeded.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn connected(&self, since: &Since) {
        #[cfg(feature = "metrics")]
        self.inner.connect.record(since.0.elapsed().as_secs_f64());
    }

    /// A connection checked out at `since` came back.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn returned(&self, since: &Since) {
        #[cfg(feature = "metrics")]
        self.inner.held.record(since.0.elapsed());
    }

    /// Hands what was counted since the last flush to the recorder: the waits of 0 and the
    /// held times. Called at scrape time (and the held times also when the last handle
    /// drops).
    #[cfg(feature = "metrics")]
    pub(crate) fn flush(&self) {
        self.inner.record_waits_of_zero();
        self.inner.held.drain();
    }
}

#[cfg(feature = "metrics")]
impl Histograms {
    /// Records the checkouts served at once since the last call as waits of 0.
    fn record_waits_of_zero(&self) {
        let n = self.served_at_once.swap(0, Ordering::Relaxed);
        if n > 0 {
            self.checkout_wait
                .record_many(0.0, usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
}

#[cfg(feature = "metrics")]
impl Drop for Histograms {
    fn drop(&mut self) {
        self.record_waits_of_zero();
    }
}

/// When a checkout started waiting: unset while it is served at its first poll, so that a
/// warm checkout reads no clock.
#[derive(Default)]
pub(crate) struct WaitClock {
    #[cfg(feature = "metrics")]
    since: Option<Instant>,
}

impl WaitClock {
    /// The checkout was not served at its first poll: it waits from now.
    #[inline]
    pub(crate) fn start(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.since = Some(Instant::now());
        }
    }
}

/// When something began (a checkout, a connect): a clock read only with the feature on.
pub(crate) struct Since(#[cfg(feature = "metrics")] Instant);

impl Since {
    /// Now.
    #[inline]
    pub(crate) fn now() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            Instant::now(),
        )
    }

    /// At `at`, a clock read the caller made anyway (nothing without the feature).
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn at(at: Instant) -> Self {
        Self(
            #[cfg(feature = "metrics")]
            at,
        )
    }
}

/// A registry's tenant start histogram, labelled with its backend and the outcome.
pub(crate) struct StartMetrics {
    #[cfg(feature = "metrics")]
    started: Histogram,
    #[cfg(feature = "metrics")]
    failed: Histogram,
}

impl StartMetrics {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(backend: BackendKind) -> Self {
        #[cfg(feature = "metrics")]
        {
            let backend = backend.to_string();
            Self {
                started: ::metrics::histogram!(super::TENANT_START_TIME, "backend" => backend.clone(), "outcome" => "started"),
                failed: ::metrics::histogram!(super::TENANT_START_TIME, "backend" => backend, "outcome" => "failed"),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// A start begun at `since` ended (`ok`: the tenant started).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn ended(&self, since: &Since, ok: bool) {
        #[cfg(feature = "metrics")]
        if ok { &self.started } else { &self.failed }.record(since.0.elapsed().as_secs_f64());
    }
}
