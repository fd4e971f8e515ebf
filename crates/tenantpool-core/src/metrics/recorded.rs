//! The figures recorded where the event happens: histogram handles created once per pool
//! and per registry, and the clock marks they need. Zero-sized and empty without the
//! `metrics` feature.

#[cfg(feature = "metrics")]
use std::time::Instant;

#[cfg(feature = "metrics")]
use ::metrics::Histogram;

use crate::{BackendKind, ServerKey};

/// A pool's histograms, labelled with its server and backend.
#[derive(Clone)]
pub(crate) struct PoolMetrics {
    #[cfg(feature = "metrics")]
    checkout_wait: Histogram,
    #[cfg(feature = "metrics")]
    connect: Histogram,
    #[cfg(feature = "metrics")]
    held: Histogram,
}

impl PoolMetrics {
    /// The handles of a pool on `server`: one registration each, here, not per event.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(server: &ServerKey, backend: BackendKind) -> Self {
        #[cfg(feature = "metrics")]
        {
            let labels = [
                ("server", server.as_str().to_owned()),
                ("backend", backend.to_string()),
            ];
            Self {
                checkout_wait: ::metrics::histogram!(super::CHECKOUT_WAIT, &labels),
                connect: ::metrics::histogram!(super::CONNECT_TIME, &labels),
                held: ::metrics::histogram!(super::HELD_TIME, &labels),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// A checkout ended (served, failed or timed out) after waiting as `clock` says.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn checkout_waited(&self, clock: &WaitClock) {
        #[cfg(feature = "metrics")]
        self.checkout_wait.record(
            clock
                .since
                .map_or(0.0, |since| since.elapsed().as_secs_f64()),
        );
    }

    /// A connect begun at `since` succeeded.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn connected(&self, since: &Since) {
        #[cfg(feature = "metrics")]
        self.connect.record(since.0.elapsed().as_secs_f64());
    }

    /// A connection checked out at `since` came back.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn returned(&self, since: &Since) {
        #[cfg(feature = "metrics")]
        self.held.record(since.0.elapsed().as_secs_f64());
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
