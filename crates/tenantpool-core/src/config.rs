//! Settings and their loading.
//!
//! Every knob has a default that is safe on a stock server, can be set in a TOML file, and can
//! be overridden from the environment (`TENANTPOOL_POOL__MAX_SIZE=4`). Durations are written
//! the human way: `"250ms"`, `"30s"`, `"5m"`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, DirectoryConfig};

/// Everything the core reads from configuration.
///
/// Each section has its own type; unknown keys inside a section are rejected so that a typo
/// fails loudly. Unknown top-level sections are ignored: they belong to other layers (the web
/// adapter's `[resolve]`, an application's own settings).
///
/// ```
/// use tenantpool_core::Settings;
///
/// let settings: Settings = Settings::from_toml_str(r#"
///     [pool]
///     max_size = 4
///     checkout_timeout = "750ms"
///
///     [budget]
///     max_connections = 40
///
///     [directory.tenants.acme]
///     url = "sqlite://data/acme.db"
/// "#)?;
/// assert_eq!(settings.pool.max_size, 4);
/// assert_eq!(settings.pool.checkout_timeout.as_millis(), 750);
/// assert_eq!(settings.budget.max_connections, 40);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Pool sizes, timeouts and connection lifetimes.
    pub pool: PoolSettings,
    /// The tenant cache.
    pub cache: CacheSettings,
    /// Connection budgets per database server.
    pub budget: BudgetSettings,
    /// What happens after a tenant fails to start.
    pub backoff: BackoffSettings,
    /// Where tenants' data lives.
    pub directory: DirectoryConfig,
    /// The I/O runtime.
    pub runtime: RuntimeSettings,
}

impl Settings {
    /// Loads settings from a TOML file (when given) and then from `TENANTPOOL_*` environment
    /// variables, which win. Nested keys use a double underscore:
    /// `TENANTPOOL_POOL__MAX_SIZE=4`, `TENANTPOOL_BUDGET__MAX_CONNECTIONS=60`.
    ///
    /// ```no_run
    /// let settings = tenantpool_core::Settings::load(Some("config/default.toml".as_ref()))?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_config(&load_config(file, "TENANTPOOL")?)
    }

    /// Reads the core's sections out of an already loaded [`config::Config`], so that an
    /// application can keep its own settings in the same file.
    ///
    /// ```
    /// let cfg = config::Config::builder().build().map_err(|e| e.to_string())?;
    /// let settings = tenantpool_core::Settings::from_config(&cfg)?;
    /// assert_eq!(settings.pool.max_size, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, ConfigError> {
        let settings: Settings = config.clone().try_deserialize().map_err(load_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Parses settings from TOML text.
    ///
    /// ```
    /// let s = tenantpool_core::Settings::from_toml_str("[cache]\ntime_to_idle = \"2s\"")?;
    /// assert_eq!(s.cache.time_to_idle.as_secs(), 2);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .map_err(load_error)?;
        Self::from_config(&config)
    }

    /// Checks ranges that serde cannot.
    ///
    /// ```
    /// let mut s = tenantpool_core::Settings::default();
    /// s.pool.max_size = 0;
    /// assert!(s.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        if self.pool.max_size == 0 {
            return invalid("pool.max_size", "must be at least 1");
        }
        if self.pool.tenant_max_in_use == Some(0) {
            return invalid("pool.tenant_max_in_use", "must be at least 1");
        }
        if self.budget.max_connections == 0 || self.budget.servers.values().any(|v| *v == 0) {
            return invalid("budget.max_connections", "must be at least 1");
        }
        if self.cache.max_tenants == 0 {
            return invalid("cache.max_tenants", "must be at least 1");
        }
        if self.cache.maintenance_interval.is_zero() {
            return invalid("cache.maintenance_interval", "must be positive");
        }
        if self.pool.checkout_timeout.is_zero() {
            return invalid("pool.checkout_timeout", "must be positive");
        }
        self.directory.validate()
    }
}

/// Builds a [`config::Config`] from an optional TOML file plus `PREFIX_*` environment
/// variables (double underscore for nesting). Errors never echo a URL's password.
///
/// ```no_run
/// let cfg = tenantpool_core::load_config(Some("config/default.toml".as_ref()), "NOTES")?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
pub fn load_config(file: Option<&Path>, env_prefix: &str) -> Result<config::Config, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    builder
        .add_source(
            config::Environment::with_prefix(env_prefix)
                .prefix_separator("_")
                .separator("__"),
        )
        .build()
        .map_err(load_error)
}

fn load_error(e: config::ConfigError) -> ConfigError {
    ConfigError::Load {
        reason: crate::target::mask_unparsed(&e.to_string()),
    }
}

/// Pool sizes, timeouts and connection lifetimes.
///
/// ```
/// let p = tenantpool_core::PoolSettings::default();
/// assert_eq!(p.max_size, 10);
/// assert_eq!(p.checkout_timeout.as_secs(), 5);
/// assert_eq!(p.affinity_max_delay.as_millis(), 8);
/// let s = tenantpool_core::Settings::from_toml_str("[pool]\naffinity_max_delay = \"20ms\"")?;
/// assert_eq!(s.pool.affinity_max_delay.as_millis(), 20);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Most connections one pool holds (idle plus in use). Default 10. A tenant target may
    /// override it; a pool shared by several tenants takes the size of the tenant that built it.
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
    /// abandoned statements, and on PostgreSQL the socket). MySQL cannot see a closed socket
    /// locally: a connection the server closed while it was idle for less than this fails the
    /// one request that next uses it, and is then discarded. `0s` validates every checkout.
    /// Default 30 s.
    #[serde(with = "humantime_serde")]
    pub validate_after_idle: Duration,
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
            validate_after_idle: Duration::from_secs(30),
        }
    }
}

/// The tenant cache.
///
/// ```
/// let c = tenantpool_core::CacheSettings::default();
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

/// Connection budgets per database server.
///
/// ```
/// let b = tenantpool_core::BudgetSettings::default();
/// assert_eq!(b.max_connections, 80);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// Most connections open at once on one server, across all pools. Default 80: below a
    /// stock PostgreSQL `max_connections` of 100, leaving room for its reserved and admin
    /// connections.
    pub max_connections: usize,
    /// Per-server caps, keyed by `scheme://host:port` (e.g. `"postgres://db1:5432" = 40`).
    pub servers: BTreeMap<String, usize>,
    /// While a creator waits for a permit, how often it retries stealing an idle connection
    /// from another pool. Default 20 ms.
    #[serde(with = "humantime_serde")]
    pub steal_retry: Duration,
    /// A pool that already has connections and wants another steals only connections idle
    /// for at least this long (a pool with none steals any idle connection), so that under
    /// pressure busy tenants keep their connections instead of trading them back and forth.
    /// Default 1 s.
    #[serde(with = "humantime_serde")]
    pub warm_steal_after: Duration,
    /// Most connects running at once per server (0: no limit). More only queue at the
    /// server's door while holding budget permits. Default 8.
    pub max_concurrent_connects: usize,
    /// After a connect to a server fails, further connects to it fail fast for this long,
    /// doubling per consecutive failure. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub server_backoff_initial: Duration,
    /// The longest fail-fast window after repeated connect failures. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub server_backoff_max: Duration,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            max_connections: 80,
            servers: BTreeMap::new(),
            steal_retry: Duration::from_millis(20),
            warm_steal_after: Duration::from_secs(1),
            max_concurrent_connects: 8,
            server_backoff_initial: Duration::from_millis(100),
            server_backoff_max: Duration::from_secs(1),
        }
    }
}

/// What happens after a tenant fails to start.
///
/// ```
/// let b = tenantpool_core::BackoffSettings::default();
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

/// The I/O runtime that owns connections (see [`IoRuntime`](crate::IoRuntime)).
///
/// ```
/// use tenantpool_core::RuntimeSettings;
///
/// assert_eq!(RuntimeSettings::default().io_threads, RuntimeSettings::default_io_threads());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Worker threads of the dedicated I/O runtime. Default: a quarter of the machine's
    /// cores, at least 1 (see [`RuntimeSettings::default_io_threads`]).
    pub io_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            io_threads: Self::default_io_threads(),
        }
    }
}

impl RuntimeSettings {
    /// The default size of the I/O runtime: a quarter of the machine's cores, at least 1.
    ///
    /// Every query wakes the I/O thread that drives its connection, and that thread wakes the
    /// worker with the answer. A second I/O thread shortens neither wake-up and adds its own
    /// (a tokio worker that finds work wakes an idle sibling to steal from it). On a 2-core
    /// machine, two I/O threads served 6 % fewer requests than one at 10 µs more CPU per
    /// request (docs/benchmarks.md); one I/O thread spent 37 % of a core driving 7,300
    /// queries/s there, so larger machines get one per four cores.
    ///
    /// ```
    /// assert!(tenantpool_core::RuntimeSettings::default_io_threads() >= 1);
    /// ```
    pub fn default_io_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_typos_inside_sections() {
        let err = Settings::from_toml_str("[pool]\nmax_sise = 3").unwrap_err();
        assert!(err.to_string().contains("max_sise"), "{err}");
    }

    #[test]
    fn ignores_foreign_sections() {
        let s = Settings::from_toml_str("[server]\nbind = \"127.0.0.1:8080\"").unwrap();
        assert_eq!(s.pool.max_size, 10);
    }

    #[test]
    fn parses_human_durations() {
        let s = Settings::from_toml_str("[pool]\nidle_timeout = \"1m 30s\"").unwrap();
        assert_eq!(s.pool.idle_timeout, Duration::from_secs(90));
    }
}
