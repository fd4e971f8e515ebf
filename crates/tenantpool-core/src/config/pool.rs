//! `[pool]`: pool sizes, timeouts and connection lifetimes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BackendKind;

/// Pool sizes, timeouts and connection lifetimes.
///
/// ```
/// let p = tenantpool_core::config::PoolSettings::default();
/// assert_eq!(p.max_size, 10);
/// assert_eq!(p.checkout_timeout.as_secs(), 5);
/// assert_eq!(p.affinity_max_delay.as_millis(), 8);
/// assert_eq!(p.leak_warning_after.as_secs(), 30);
/// let s = tenantpool_core::Settings::from_toml_str("[pool]\naffinity_max_delay = \"20ms\"")?;
/// assert_eq!(s.pool.affinity_max_delay.as_millis(), 20);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Most connections one pool holds (idle plus in use). Default 10. A tenant with a
    /// database of its own may override it (its pool takes the tenant's `max_size`). A pool
    /// shared by several tenants (schema mode) always has this size, whichever tenant built
    /// it; there a tenant's own `max_size` caps how many of the pool's connections that
    /// tenant holds at once.
    pub max_size: usize,
    /// Most connections one tenant holds at once in a pool it shares with other tenants
    /// (schema mode). Default: half of `max_size`, rounded up.
    pub tenant_max_in_use: Option<usize>,
    /// How long schema affinity may pass a waiting checkout over in an exhausted shared pool
    /// (schema mode), handing returned connections to later checkouts already on their
    /// schemas instead; past it, waiters are served in order. Longer saves more schema
    /// switches and lets a waiter's latency grow by up to this much; `0s` serves waiters in
    /// order. Default 8 ms.
    #[serde(with = "humantime_serde")]
    pub affinity_max_delay: Duration,
    /// How long a checkout waits for a connection (pool slot, fair share and budget) before
    /// failing with [`Error::Exhausted`](crate::Error::Exhausted). Default 5 s.
    #[serde(with = "humantime_serde")]
    pub checkout_timeout: Duration,
    /// How long opening one connection may take. Default 5 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// An idle connection is closed after this long unused. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A connection is closed once it is this old, at its next return or reap. Default 30 min.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// How long a request waits for its tenant to start (directory lookup, first connection,
    /// schema check, start hook) before it gets [`Error::Exhausted`](crate::Error::Exhausted);
    /// the start itself goes on, and later requests join it. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub start_timeout: Duration,
    /// A connection idle for longer than this is checked with a round trip before it is
    /// handed out; one used more recently is checked only locally (transaction state,
    /// abandoned statements, and on PostgreSQL the socket). `0s` validates every checkout.
    ///
    /// Default: 30 s on PostgreSQL and SQLite; 500 ms on MySQL and MariaDB, whose driver
    /// cannot see a socket the server closed without reading it (the window HikariCP calls
    /// its alive-bypass window). A MySQL connection killed by the server within this long of
    /// its last use fails the one request that next uses it (a connection error, 503 in the
    /// web adapters) and is then discarded, and the pool's other idle connections are then
    /// validated at their next checkout; one killed after idling past the window is found out
    /// by the check and replaced before hand-over. See
    /// [`validate_after_idle_for`](Self::validate_after_idle_for).
    #[serde(with = "humantime_serde")]
    pub validate_after_idle: Option<Duration>,
    /// A connection checked out for longer than this is reported once per checkout: a
    /// `WARN` event (target `tenantpool_core::held`, fields `tenant`, `target_db`, `held`),
    /// emitted inside the span that was current at checkout (the request's span in the web
    /// adapters, so its route and method come with it), and the counter
    /// [`held_too_long`](crate::stats::CounterStats::held_too_long). The check runs on the
    /// maintenance tick (`cache.maintenance_interval`), so a warning comes up to one interval
    /// late. `0s` turns it off, and checkouts then pay nothing for it. Default 30 s. See
    /// docs/observability.md.
    #[serde(with = "humantime_serde")]
    pub leak_warning_after: Duration,
}

impl PoolSettings {
    /// The default of `validate_after_idle` on PostgreSQL and SQLite.
    pub const VALIDATE_AFTER_IDLE: Duration = Duration::from_secs(30);
    /// The default of `validate_after_idle` on MySQL and MariaDB.
    pub const MYSQL_VALIDATE_AFTER_IDLE: Duration = Duration::from_millis(500);
    /// The default of `leak_warning_after`.
    ///
    /// ```
    /// use tenantpool_core::config::PoolSettings;
    /// assert_eq!(PoolSettings::default().leak_warning_after, PoolSettings::LEAK_WARNING_AFTER);
    /// let s = tenantpool_core::Settings::from_toml_str("[pool]\nleak_warning_after = \"0s\"")?;
    /// assert!(s.pool.leak_warning_after.is_zero()); // off
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub const LEAK_WARNING_AFTER: Duration = Duration::from_secs(30);

    /// `validate_after_idle` for pools of `backend`: the setting, or the backend's default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenantpool_core::{config::PoolSettings, BackendKind};
    /// let mut p = PoolSettings::default();
    /// assert_eq!(p.validate_after_idle_for(BackendKind::Postgres), Duration::from_secs(30));
    /// assert_eq!(p.validate_after_idle_for(BackendKind::Mysql), Duration::from_millis(500));
    /// p.validate_after_idle = Some(Duration::ZERO);
    /// assert_eq!(p.validate_after_idle_for(BackendKind::Mysql), Duration::ZERO);
    /// let s = tenantpool_core::Settings::from_toml_str("[pool]\nvalidate_after_idle = \"2s\"")?;
    /// assert_eq!(s.pool.validate_after_idle, Some(Duration::from_secs(2)));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn validate_after_idle_for(&self, backend: BackendKind) -> Duration {
        self.validate_after_idle.unwrap_or(match backend {
            BackendKind::Mysql => Self::MYSQL_VALIDATE_AFTER_IDLE,
            BackendKind::Postgres | BackendKind::Sqlite => Self::VALIDATE_AFTER_IDLE,
        })
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            tenant_max_in_use: None,
            affinity_max_delay: Duration::from_millis(8),
            checkout_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(30 * 60),
            start_timeout: Duration::from_secs(30),
            validate_after_idle: None,
            leak_warning_after: Self::LEAK_WARNING_AFTER,
        }
    }
}
