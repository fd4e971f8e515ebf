//! `[stats]`: what the stats snapshot reports.

use serde::{Deserialize, Serialize};

/// What the stats snapshot ([`Registry::stats`](crate::Registry::stats)) reports.
///
/// ```
/// let s = tenantpool_core::config::StatsSettings::default();
/// assert_eq!(s.top_tenants, 20);
/// let s = tenantpool_core::Settings::from_toml_str("[stats]\ntop_tenants = 5")?;
/// assert_eq!(s.stats.top_tenants, 5);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsSettings {
    /// How many tenants each per-tenant list of the snapshot names at most (the top K by
    /// connections in use, and by time spent waiting for a connection). `0` leaves both lists
    /// empty. Default 20. See docs/observability.md.
    pub top_tenants: usize,
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self { top_tenants: 20 }
    }
}
