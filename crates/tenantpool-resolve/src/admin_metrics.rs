//! The admin metrics endpoint's answer, shared by the adapters (feature `metrics`):
//! `GET {path}/metrics` publishes every registry's counters and gauges, then renders the
//! Prometheus recorder's text.
//!
//! ```text
//! scrape ─▶ AdminGuard (401 without the token) ─▶ AdminStats::publish_metrics
//!        (each registry, labelled registry=<name>) ─▶ PrometheusHandle::render ─▶ 200 text
//! ```
//!
//! The recorder is the process's global `metrics` recorder. [`AdminMetrics::install`]
//! installs one (once per process; later calls share it) with buckets in seconds for the
//! histograms and an idle timeout for gauges, so that a tenant that left the top K stops
//! being rendered ([`STALE_GAUGES_AFTER`]); an application with a recorder of its own passes
//! its handle to [`AdminMetrics::new`] instead.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::{AdminConfig, AdminStats, SetupError};

/// Histogram buckets, in seconds: from half a millisecond (a warm checkout, a local connect)
/// to a minute (a held connection).
///
/// ```
/// assert_eq!(tenantpool_resolve::SECONDS_BUCKETS.last(), Some(&60.0));
/// ```
pub const SECONDS_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// How long a gauge not updated stays rendered by the recorder [`AdminMetrics::install`]
/// builds: longer than a scrape's own publish takes, shorter than a scrape interval.
/// Every scrape updates the gauges of the registries, so only per-tenant series of tenants
/// that left the top K (and gauges of the application's own not set for this long) drop out.
///
/// ```
/// assert!(tenantpool_resolve::STALE_GAUGES_AFTER.as_secs() > 0);
/// ```
pub const STALE_GAUGES_AFTER: Duration = Duration::from_secs(10);

/// The media type of the Prometheus text format.
///
/// ```
/// assert!(tenantpool_resolve::METRICS_CONTENT_TYPE.starts_with("text/plain"));
/// ```
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The recorder handle a metrics endpoint renders.
///
/// ```no_run
/// let metrics = tenantpool_resolve::AdminMetrics::install()?;
/// let stats = tenantpool_resolve::AdminStats::default();
/// let text = metrics.render(&stats);
/// # Ok::<(), tenantpool_resolve::SetupError>(())
/// ```
#[derive(Clone)]
pub struct AdminMetrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for AdminMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminMetrics").finish_non_exhaustive()
    }
}

impl AdminMetrics {
    /// Renders the recorder behind `handle` (an application's own Prometheus recorder).
    ///
    /// ```
    /// let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    /// let metrics = tenantpool_resolve::AdminMetrics::new(recorder.handle());
    /// ```
    pub fn new(handle: PrometheusHandle) -> Self {
        Self { handle }
    }

    /// Installs the process's global Prometheus recorder (buckets [`SECONDS_BUCKETS`],
    /// gauges dropped after [`STALE_GAUGES_AFTER`] without an update) the first time it is
    /// called, and shares it on later calls.
    ///
    /// # Errors
    ///
    /// When another global recorder was installed first: pass its handle to
    /// [`new`](Self::new) instead.
    ///
    /// ```no_run
    /// let metrics = tenantpool_resolve::AdminMetrics::install()?;
    /// let again = tenantpool_resolve::AdminMetrics::install()?; // the same recorder
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn install() -> Result<Self, SetupError> {
        static INSTALLED: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
        let installed = INSTALLED.get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&SECONDS_BUCKETS)
                .map_err(|e| e.to_string())?
                .idle_timeout(MetricKindMask::GAUGE, Some(STALE_GAUGES_AFTER))
                .install_recorder()
                .map_err(|e| e.to_string())
        });
        match installed {
            Ok(handle) => Ok(Self::new(handle.clone())),
            Err(reason) => Err(SetupError::Invalid {
                setting: "admin.metrics",
                reason: format!(
                    "cannot install the Prometheus recorder ({reason}); pass the handle of \
                     the application's own recorder instead"
                ),
            }),
        }
    }

    /// `Ok(None)` unless the section enables both the admin endpoints and `metrics`; then
    /// the installed recorder (see [`install`](Self::install)).
    ///
    /// ```
    /// let off = tenantpool_resolve::AdminMetrics::from_config(&Default::default())?;
    /// assert!(off.is_none());
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn from_config(config: &AdminConfig) -> Result<Option<Self>, SetupError> {
        if config.enabled && config.metrics {
            Self::install().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The body of a scrape: publishes the registries of `stats`, then renders every metric
    /// the recorder holds (the application's own included), in the Prometheus text format
    /// ([`CONTENT_TYPE`]).
    ///
    /// ```
    /// let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    /// let metrics = tenantpool_resolve::AdminMetrics::new(recorder.handle());
    /// let text = metrics.render(&tenantpool_resolve::AdminStats::default());
    /// assert!(text.is_empty());
    /// ```
    pub fn render(&self, stats: &AdminStats) -> String {
        stats.publish_metrics();
        self.handle.render()
    }
}
