//! `[cache]`: the tenant cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The tenant cache.
///
/// ```
/// let c = tenantpool_core::config::CacheSettings::default();
/// assert_eq!(c.max_tenants, 10_000);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Most tenants cached at once; the least recently used is evicted beyond it. Default 10,000.
    pub max_tenants: u64,
    /// A tenant not used for this long is evicted, releasing its hold on its pool. Default 5 min.
    #[serde(with = "humantime_serde")]
    pub time_to_idle: Duration,
    /// How often the maintenance task expires tenants and reaps idle connections. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub maintenance_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_tenants: 10_000,
            time_to_idle: Duration::from_secs(300),
            maintenance_interval: Duration::from_secs(1),
        }
    }
}
