//! The `[directory.catalog]` section: tenants in a catalog table, and where they can live.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Placement};
use crate::directory::PoolOverrides;
use crate::{ConfigError, DatabaseUrl, UrlTemplate};

/// The `[directory.catalog]` section: the control database that holds the catalog, and the
/// placements its rows name (the URLs, with their credentials, stay here or in the
/// environment, never in the table).
///
/// ```toml
/// [directory.catalog]
/// url = "postgres://app@127.0.0.1:5432/control"
/// poll_interval = "1s"
///
/// [directory.catalog.placements.shared]
/// url = "postgres://app@127.0.0.1:5432/shared"
/// schema = "tenant_{tenant}"
///
/// [directory.catalog.placements.dedicated]
/// url = "postgres://app@127.0.0.1:5432/tenant_{tenant}"
/// max_size = 8
/// ```
///
/// ```
/// let settings = tenantpool_core::Settings::from_toml_str(r#"
///     [directory.catalog]
///     url = "sqlite://data/catalog.db"
///     [directory.catalog.placements.local]
///     url = "sqlite://data/{tenant}.db"
/// "#)?;
/// let catalog = settings.directory.catalog.as_ref().map(|c| c.build()).transpose()?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The control database.
    pub url: DatabaseUrl,
    /// How often each replica polls the catalog's version: the bound on how long a change
    /// takes to reach a replica (less on PostgreSQL, which also listens).
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Listen for PostgreSQL notifications (one more connection per process).
    #[serde(default = "default_true")]
    pub listen: bool,
    /// How long a provisioning operation waits for the tenant's lock.
    #[serde(default = "default_lock_wait", with = "humantime_serde")]
    pub lock_wait: Duration,
    /// The places tenants can live, by name.
    #[serde(default)]
    pub placements: BTreeMap<String, PlacementConfig>,
}

/// One placement: a URL template (database per tenant), or a URL and a schema template.
///
/// ```
/// let p: tenantpool_core::config::PlacementConfig =
///     serde_json::from_str(r#"{"url": "postgres://h/shared", "schema": "t_{tenant}"}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// URL template (must contain `{tenant}` unless `schema` does).
    pub url: UrlTemplate,
    /// Schema template, for schema-per-tenant isolation.
    #[serde(default)]
    pub schema: Option<String>,
    /// Create a catalog tenant's SQLite file or schema on its first start when missing.
    #[serde(default)]
    pub create_missing: bool,
    /// Pool overrides for the placement's tenants, written inline.
    #[serde(flatten)]
    pub overrides: PoolOverrides,
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_lock_wait() -> Duration {
    Duration::from_secs(30)
}

fn default_true() -> bool {
    true
}

impl CatalogConfig {
    /// Builds the catalog the section describes (no connection is opened).
    ///
    /// ```
    /// let c: tenantpool_core::config::CatalogConfig = serde_json::from_str(
    ///     r#"{"url": "sqlite://c.db", "placements": {"local": {"url": "sqlite://d/{tenant}.db"}}}"#,
    /// ).unwrap();
    /// let catalog = c.build()?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<Catalog, ConfigError> {
        if self.placements.is_empty() {
            return Err(ConfigError::Invalid {
                setting: "directory.catalog.placements",
                reason: "a catalog needs at least one placement for its tenants to live in".into(),
            });
        }
        self.url.tls().check_files()?;
        let mut catalog = Catalog::new(self.url.clone())
            .poll_interval(self.poll_interval)
            .listen(self.listen)
            .lock_wait(self.lock_wait);
        for (name, p) in &self.placements {
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(ConfigError::Invalid {
                    setting: "directory.catalog.placements",
                    reason: format!("{name:?}: a placement name is 1-63 characters of A-Z, a-z, 0-9, '_' and '-'"),
                });
            }
            let mut placement = Placement::new(p.url.expose_secret(), p.schema.as_deref())?
                .with_overrides(p.overrides.clone());
            if p.create_missing {
                placement = placement.creating_missing();
            }
            DatabaseUrl::parse(&p.url.expose_secret().replace("{tenant}", "a"))?
                .tls()
                .check_files()?;
            catalog = catalog.placement(name, placement);
        }
        Ok(catalog)
    }
}
