//! Settings and their loading.
//!
//! Every knob has a default that is safe on a stock server, can be set in a TOML file, and can
//! be overridden from the environment (`TENANTPOOL_POOL__MAX_SIZE=4`). Durations are written
//! the human way: `"250ms"`, `"30s"`, `"5m"`.

mod backoff;
mod budget;
mod cache;
mod catalog;
mod directory;
mod pool;
mod readiness;
mod runtime;
mod stats;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::backoff::BackoffSettings;
pub use self::budget::BudgetSettings;
pub use self::cache::CacheSettings;
pub use self::catalog::{CatalogConfig, PlacementConfig};
pub use self::directory::{DirectoryConfig, StaticTenantConfig, TemplateConfig};
pub use self::pool::PoolSettings;
pub use self::readiness::ReadinessSettings;
pub use self::runtime::RuntimeSettings;
pub use self::stats::StatsSettings;
use crate::ConfigError;

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
    /// When the registry reports itself ready.
    pub readiness: ReadinessSettings,
    /// What the stats snapshot reports.
    pub stats: StatsSettings,
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
        if self.budget.replicas == 0 {
            return invalid("budget.replicas", "must be at least 1");
        }
        let smallest = self
            .budget
            .servers
            .values()
            .fold(self.budget.max_connections, |m, v| m.min(*v));
        if smallest < self.budget.replicas {
            return invalid(
                "budget.replicas",
                "is more than a cap (budget.max_connections or a per-server cap): each replica \
                 needs at least one connection of it",
            );
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
        if self.readiness.recent.is_zero() {
            return invalid("readiness.recent", "must be positive");
        }
        self.directory.validate()
    }
}

/// Builds a [`config::Config`] from an optional TOML file plus `PREFIX_*` environment
/// variables (double underscore for nesting). Errors never echo a URL's password.
///
/// ```no_run
/// let cfg = tenantpool_core::config::load_config(Some("config/default.toml".as_ref()), "NOTES")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_typos_inside_sections() {
        let err = Settings::from_toml_str("[pool]\nmax_sise = 3").unwrap_err();
        assert!(err.to_string().contains("max_sise"), "{err}");
    }

    #[test]
    fn replicas_split_the_caps_and_need_one_connection_each() {
        let s = Settings::from_toml_str(
            "[budget]\nmax_connections = 90\nreplicas = 3\n[budget.servers]\n\"postgres://db:5432\" = 10",
        )
        .unwrap();
        let budgets = crate::Budgets::new(s.budget.clone());
        assert_eq!(budgets.limit_for("postgres://other:5432"), 30);
        assert_eq!(budgets.limit_for("postgres://db:5432"), 3);
        // The environment gives numbers as strings.
        std::env::set_var("TPREPLICAS_BUDGET__REPLICAS", "2");
        let loaded = load_config(None, "TPREPLICAS").and_then(|c| Settings::from_config(&c));
        std::env::remove_var("TPREPLICAS_BUDGET__REPLICAS");
        assert_eq!(loaded.unwrap().budget.replicas, 2);
        for bad in [
            "[budget]\nreplicas = 0",
            "[budget]\nmax_connections = 2\nreplicas = 3",
            "[budget]\nreplicas = 4\n[budget.servers]\n\"postgres://db:5432\" = 3",
        ] {
            let err = Settings::from_toml_str(bad).unwrap_err();
            assert!(err.to_string().contains("budget.replicas"), "{bad}: {err}");
        }
    }

    #[test]
    fn ignores_foreign_sections() {
        let s = Settings::from_toml_str("[server]\nbind = \"127.0.0.1:8080\"").unwrap();
        assert_eq!(s.pool.max_size, 10);
    }

    #[test]
    fn leak_warning_after_comes_from_files_and_the_environment() {
        use std::time::Duration;
        let s = Settings::from_toml_str("[pool]\nleak_warning_after = \"2m\"").unwrap();
        assert_eq!(s.pool.leak_warning_after, Duration::from_secs(120));
        // A prefix of its own, so that no other test reads the variable.
        std::env::set_var("TPLEAKWARN_POOL__LEAK_WARNING_AFTER", "750ms");
        let loaded = load_config(None, "TPLEAKWARN").and_then(|c| Settings::from_config(&c));
        std::env::remove_var("TPLEAKWARN_POOL__LEAK_WARNING_AFTER");
        assert_eq!(
            loaded.unwrap().pool.leak_warning_after,
            Duration::from_millis(750)
        );
    }

    #[test]
    fn readiness_comes_from_files_and_the_environment_and_rejects_typos() {
        use std::time::Duration;
        let s = Settings::from_toml_str("[readiness]\nexhausted_for = \"3s\"").unwrap();
        assert_eq!(s.readiness.exhausted_for, Duration::from_secs(3));
        assert_eq!(s.readiness.recent, Duration::from_secs(30));
        let err = Settings::from_toml_str("[readiness]\nrecnet = \"3s\"").unwrap_err();
        assert!(err.to_string().contains("recnet"), "{err}");
        let err = Settings::from_toml_str("[readiness]\nrecent = \"0s\"").unwrap_err();
        assert!(err.to_string().contains("readiness.recent"), "{err}");
        // A prefix of its own, so that no other test reads the variable.
        std::env::set_var("TPREADY_READINESS__RECENT", "750ms");
        let loaded = load_config(None, "TPREADY").and_then(|c| Settings::from_config(&c));
        std::env::remove_var("TPREADY_READINESS__RECENT");
        assert_eq!(loaded.unwrap().readiness.recent, Duration::from_millis(750));
    }

    #[test]
    fn top_tenants_comes_from_files_and_the_environment() {
        let s = Settings::from_toml_str("[stats]\ntop_tenants = 3").unwrap();
        assert_eq!(s.stats.top_tenants, 3);
        let err = Settings::from_toml_str("[stats]\ntop_tenant = 3").unwrap_err();
        assert!(err.to_string().contains("top_tenant"), "{err}");
        // A prefix of its own, so that no other test reads the variable.
        std::env::set_var("TPTOPTENANTS_STATS__TOP_TENANTS", "7");
        let loaded = load_config(None, "TPTOPTENANTS").and_then(|c| Settings::from_config(&c));
        std::env::remove_var("TPTOPTENANTS_STATS__TOP_TENANTS");
        assert_eq!(loaded.unwrap().stats.top_tenants, 7);
    }

    #[test]
    fn parses_human_durations() {
        use std::time::Duration;
        let s = Settings::from_toml_str("[pool]\nidle_timeout = \"1m 30s\"").unwrap();
        assert_eq!(s.pool.idle_timeout, Duration::from_secs(90));
    }
}
