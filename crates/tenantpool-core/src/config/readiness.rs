//! `[readiness]`: when a registry reports itself ready (see [`Registry::readiness`]).
//!
//! [`Registry::readiness`]: crate::Registry::readiness

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When a registry reports itself ready: how recent a server's last accepted connection must
/// be, and how long its budget may stay exhausted.
///
/// ```
/// let r = tenantpool_core::config::ReadinessSettings::default();
/// assert_eq!((r.recent.as_secs(), r.exhausted_for.as_secs()), (30, 10));
/// let s = tenantpool_core::Settings::from_toml_str("[readiness]\nrecent = \"5s\"\nexhausted_for = \"2s\"")?;
/// assert_eq!(s.readiness.recent.as_secs(), 5);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessSettings {
    /// A server counts as up when it accepted a connection (a connect, or a checkout of one
    /// of its connections) within this long. A server quieter than that (an idle service) is
    /// probed with one real connection when readiness is asked. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub recent: Duration,
    /// A server's connection budget may be exhausted (creators waiting for a permit, the
    /// budget full) for this long before the registry reports itself not ready. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub exhausted_for: Duration,
}

impl Default for ReadinessSettings {
    fn default() -> Self {
        Self {
            recent: Duration::from_secs(30),
            exhausted_for: Duration::from_secs(10),
        }
    }
}
