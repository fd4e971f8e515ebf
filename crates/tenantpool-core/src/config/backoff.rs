//! `[backoff]`: what happens after a tenant fails to start.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What happens after a tenant fails to start.
///
/// ```
/// let b = tenantpool_core::config::BackoffSettings::default();
/// assert!(b.initial < b.max);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffSettings {
    /// After a tenant's first failed start, requests for it get the same error without a new
    /// attempt for this long; the wait doubles with each further failure. Default 200 ms.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// The longest wait between attempts. Default 2 s.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// How long "unknown tenant" is remembered. Default 5 s.
    #[serde(with = "humantime_serde")]
    pub unknown_tenant_ttl: Duration,
    /// Most failed tenants remembered at once (a bound on memory under a flood of unknown
    /// tenants). Default 10,000.
    pub max_failed_tenants: u64,
    /// When the directory can list its tenants, how often at most its list is reloaded (on
    /// a miss). A tenant added to the directory is seen within this interval. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub directory_refresh: Duration,
    /// When the directory cannot list its tenants, how many cold starts per second may ask
    /// it (burst of the same size). Over it, requests get `Error::Throttled` (503).
    /// Default 200.
    pub unlisted_starts_per_second: u32,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
            unknown_tenant_ttl: Duration::from_secs(5),
            max_failed_tenants: 10_000,
            directory_refresh: Duration::from_secs(1),
            unlisted_starts_per_second: 200,
        }
    }
}
