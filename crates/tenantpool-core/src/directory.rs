//! The tenant directory: where a tenant's data lives.
//!
//! The registry asks the directory once per cold start of a tenant. Three sources come with
//! the crate: a static list ([`StaticDirectory`], usually from configuration), a URL template
//! for database-per-tenant or schema-per-tenant naming ([`TemplateDirectory`]), and the two
//! chained ([`DirectoryConfig::build`]). Applications with a catalog table or an API implement
//! [`TenantDirectory`] themselves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{ConfigError, DatabaseUrl, Isolation, SchemaName, TenantId, UrlTemplate};

/// Where one tenant's data lives, and per-tenant pool overrides.
///
/// ```
/// use tenantpool_core::{DatabaseUrl, TenantTarget};
///
/// let target = TenantTarget::database(DatabaseUrl::parse("postgres://app@db/tenant_acme")?)
///     .with_max_size(4);
/// assert_eq!(target.overrides.max_size, Some(4));
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantTarget {
    /// The database to connect to. Tenants with equal URLs share a pool.
    pub url: DatabaseUrl,
    /// Own database, or a schema in a shared one.
    pub isolation: Isolation,
    /// Create the tenant's SQLite file, or its schema in schema mode, when it does not exist.
    /// Databases themselves are never created.
    pub create_missing: bool,
    /// Per-tenant pool settings.
    pub overrides: PoolOverrides,
}

impl TenantTarget {
    /// A tenant with a database of its own.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, Isolation, TenantTarget};
    /// let t = TenantTarget::database(DatabaseUrl::parse("sqlite://data/acme.db")?);
    /// assert_eq!(t.isolation, Isolation::Database);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn database(url: DatabaseUrl) -> Self {
        Self {
            url,
            isolation: Isolation::Database,
            create_missing: false,
            overrides: PoolOverrides::default(),
        }
    }

    /// A tenant with a schema in a shared database.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, SchemaName, TenantTarget};
    /// let t = TenantTarget::schema(
    ///     DatabaseUrl::parse("postgres://app@db/shared")?,
    ///     SchemaName::parse("tenant_acme")?,
    /// );
    /// assert!(t.isolation.schema().is_some());
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn schema(url: DatabaseUrl, schema: SchemaName) -> Self {
        Self {
            isolation: Isolation::Schema(schema),
            ..Self::database(url)
        }
    }

    /// Creates the SQLite file or schema on first use when missing.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, TenantTarget};
    /// let t = TenantTarget::database(DatabaseUrl::parse("sqlite://d/a.db")?).creating_missing();
    /// assert!(t.create_missing);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn creating_missing(mut self) -> Self {
        self.create_missing = true;
        self
    }

    /// Overrides the pool size for this tenant's pool.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, TenantTarget};
    /// let t = TenantTarget::database(DatabaseUrl::parse("sqlite://d/a.db")?).with_max_size(2);
    /// assert_eq!(t.overrides.max_size, Some(2));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.overrides.max_size = Some(max_size);
        self
    }

    /// Overrides the whole set of pool settings for this tenant.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenantpool_core::{DatabaseUrl, PoolOverrides, TenantTarget};
    /// let mut o = PoolOverrides::default();
    /// o.checkout_timeout = Some(Duration::from_millis(500));
    /// let t = TenantTarget::database(DatabaseUrl::parse("sqlite://d/a.db")?).with_overrides(o);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn with_overrides(mut self, overrides: PoolOverrides) -> Self {
        self.overrides = overrides;
        self
    }
}

/// Per-tenant pool settings; `None` takes the registry's [`PoolSettings`](crate::PoolSettings).
///
/// ```
/// let o = tenantpool_core::PoolOverrides::default();
/// assert!(o.max_size.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolOverrides {
    /// Pool size.
    pub max_size: Option<usize>,
    /// Fair share of this tenant in a shared pool.
    pub tenant_max_in_use: Option<usize>,
    /// Checkout timeout.
    #[serde(with = "humantime_serde::option")]
    pub checkout_timeout: Option<Duration>,
}

/// A failure of the directory itself (not "tenant unknown", which is `Ok(None)`).
///
/// ```
/// let e = tenantpool_core::DirectoryError::new("catalog query failed");
/// assert_eq!(e.to_string(), "catalog query failed");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DirectoryError(String);

impl DirectoryError {
    /// A directory error with a message. Do not put secrets in it.
    ///
    /// ```
    /// let e = tenantpool_core::DirectoryError::new("timeout");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A source of tenant targets.
///
/// `Ok(None)` means "no such tenant" (HTTP 404); `Err` means the directory itself failed
/// (HTTP 500). The registry calls it once per cold start of a tenant, never on the hot path,
/// and remembers "unknown" for a while (see [`BackoffSettings`](crate::BackoffSettings)).
///
/// ```
/// use async_trait::async_trait;
/// use tenantpool_core::{DatabaseUrl, DirectoryError, TenantDirectory, TenantId, TenantTarget};
///
/// /// Tenants whose key starts with "demo-" live in one demo database each.
/// struct Demo;
///
/// #[async_trait]
/// impl TenantDirectory for Demo {
///     async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
///         if !tenant.as_str().starts_with("demo-") {
///             return Ok(None);
///         }
///         let url = DatabaseUrl::parse(&format!("sqlite://data/{tenant}.db"))
///             .map_err(|e| DirectoryError::new(e.to_string()))?;
///         Ok(Some(TenantTarget::database(url)))
///     }
/// }
/// ```
#[async_trait]
pub trait TenantDirectory: Send + Sync + 'static {
    /// Looks a tenant up.
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError>;

    /// Every tenant the directory knows, when it can list them; `None` when it cannot (a
    /// template without an allow-list, an API without a list call).
    ///
    /// The registry uses the list to answer keys that are not on it with "unknown tenant"
    /// without a lookup each, so that a flood of random keys costs the directory one list
    /// call per refresh interval instead of one lookup per request. The default cannot list.
    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        Ok(None)
    }
}

#[async_trait]
impl<D: TenantDirectory + ?Sized> TenantDirectory for Arc<D> {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        (**self).lookup(tenant).await
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        (**self).list().await
    }
}

#[async_trait]
impl<D: TenantDirectory + ?Sized> TenantDirectory for Box<D> {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        (**self).lookup(tenant).await
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        (**self).list().await
    }
}

/// A fixed list of tenants.
///
/// ```
/// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
///
/// let dir = StaticDirectory::new()
///     .with(TenantId::parse("acme")?, TenantTarget::database(DatabaseUrl::parse("sqlite://data/acme.db")?));
/// assert_eq!(dir.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    tenants: HashMap<TenantId, TenantTarget>,
}

impl StaticDirectory {
    /// An empty directory.
    ///
    /// ```
    /// assert!(tenantpool_core::StaticDirectory::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tenant.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
    /// let dir = StaticDirectory::new().with(
    ///     TenantId::parse("globex")?,
    ///     TenantTarget::database(DatabaseUrl::parse("sqlite://data/globex.db")?),
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with(mut self, tenant: TenantId, target: TenantTarget) -> Self {
        self.tenants.insert(tenant, target);
        self
    }

    /// Adds (or replaces) a tenant in place.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
    /// let mut dir = StaticDirectory::new();
    /// dir.insert(TenantId::parse("a")?, TenantTarget::database(DatabaseUrl::parse("sqlite://a.db")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, tenant: TenantId, target: TenantTarget) {
        self.tenants.insert(tenant, target);
    }

    /// Number of tenants.
    ///
    /// ```
    /// assert_eq!(tenantpool_core::StaticDirectory::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// True when no tenant is listed.
    ///
    /// ```
    /// assert!(tenantpool_core::StaticDirectory::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

#[async_trait]
impl TenantDirectory for StaticDirectory {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        Ok(self.tenants.get(tenant).cloned())
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        Ok(Some(self.tenants.keys().cloned().collect()))
    }
}

/// Tenant targets made from templates: `{tenant}` is replaced by the validated tenant key.
///
/// Database per tenant: `postgres://app@db:5432/tenant_{tenant}`. Schema per tenant: a fixed
/// URL and a schema template, `tenant_{tenant}`. An optional allow-list restricts which keys
/// exist; without one, every valid key is looked up in the database, and a missing database
/// or schema is reported as such (HTTP 404).
///
/// ```
/// use tenantpool_core::{TemplateDirectory, TenantDirectory, TenantId};
///
/// # tokio_test_block_on(async {
/// let dir = TemplateDirectory::database("postgres://app@db:5432/tenant_{tenant}")?;
/// let target = dir.lookup(&TenantId::parse("acme")?).await?.expect("templated");
/// assert_eq!(target.url.database(), Some("tenant_acme"));
///
/// let dir = TemplateDirectory::schema("postgres://app@db/shared", "t_{tenant}")?;
/// let target = dir.lookup(&TenantId::parse("acme")?).await?.expect("templated");
/// assert_eq!(target.isolation.schema().map(|s| s.as_str()), Some("t_acme"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TemplateDirectory {
    url: UrlTemplate,
    schema: Option<String>,
    allow: Option<HashSet<TenantId>>,
    create_missing: bool,
    overrides: PoolOverrides,
}

const PLACEHOLDER: &str = "{tenant}";

impl TemplateDirectory {
    /// One database per tenant; `url` must contain `{tenant}`.
    ///
    /// ```
    /// assert!(tenantpool_core::TemplateDirectory::database("postgres://h/fixed").is_err());
    /// ```
    pub fn database(url: &str) -> Result<Self, ConfigError> {
        Self::new(url, None)
    }

    /// One schema per tenant in the database `url`; `schema` must contain `{tenant}`.
    ///
    /// ```
    /// let d = tenantpool_core::TemplateDirectory::schema("postgres://h/shared", "{tenant}")?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn schema(url: &str, schema: &str) -> Result<Self, ConfigError> {
        Self::new(url, Some(schema))
    }

    fn new(url: &str, schema: Option<&str>) -> Result<Self, ConfigError> {
        let invalid = |template: &str, reason: &str| ConfigError::InvalidTemplate {
            template: crate::target::mask_unparsed(template),
            reason: reason.to_string(),
        };
        match schema {
            None if !url.contains(PLACEHOLDER) => {
                return Err(invalid(url, "the URL template must contain {tenant}"))
            }
            Some(s) if !s.contains(PLACEHOLDER) => {
                return Err(invalid(s, "the schema template must contain {tenant}"))
            }
            _ => {}
        }
        // Every key gives a valid URL and schema name, except that a schema template with a
        // prefix can exceed 63 characters for the longest keys: such keys are unknown
        // tenants (see `lookup`), and a key on the allow-list must fit (see `allow`).
        for probe in ["a", &"a".repeat(crate::tenant::MAX_TENANT_ID_LEN)] {
            DatabaseUrl::parse(&url.replace(PLACEHOLDER, probe))?;
        }
        if let Some(s) = schema {
            SchemaName::parse(&s.replace(PLACEHOLDER, "a")).map_err(|_| {
                invalid(
                    s,
                    "the schema template must give 1-63 characters of A-Z, a-z, 0-9, '_' and '-'",
                )
            })?;
        }
        Ok(Self {
            url: UrlTemplate::from(url),
            schema: schema.map(str::to_string),
            allow: None,
            create_missing: false,
            overrides: PoolOverrides::default(),
        })
    }

    /// Only these tenants exist; any other key is unknown (HTTP 404) without a database
    /// round trip.
    ///
    /// ```
    /// use tenantpool_core::{TemplateDirectory, TenantId};
    /// let d = TemplateDirectory::database("sqlite://data/{tenant}.db")?
    ///     .allow([TenantId::parse("acme")?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow(mut self, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        self.allow = Some(tenants.into_iter().collect());
        self
    }

    /// Like [`allow`](Self::allow), but first checks that every allowed key gives a valid
    /// target (a schema name of at most 63 characters).
    ///
    /// ```
    /// use tenantpool_core::{TemplateDirectory, TenantId};
    /// let long = TenantId::parse(&"a".repeat(60))?;
    /// let dir = TemplateDirectory::schema("postgres://h/db", "tenant_{tenant}")?;
    /// assert!(dir.clone().try_allow([TenantId::parse("acme")?]).is_ok());
    /// assert!(dir.try_allow([long]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_allow(
        self,
        tenants: impl IntoIterator<Item = TenantId>,
    ) -> Result<Self, ConfigError> {
        let tenants: Vec<TenantId> = tenants.into_iter().collect();
        for t in &tenants {
            self.target_for(t)?;
        }
        Ok(self.allow(tenants))
    }

    /// Creates missing SQLite files or schemas on first use.
    ///
    /// ```
    /// let d = tenantpool_core::TemplateDirectory::database("sqlite://data/{tenant}.db")?
    ///     .creating_missing();
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn creating_missing(mut self) -> Self {
        self.create_missing = true;
        self
    }

    /// Pool overrides for every templated tenant.
    ///
    /// ```
    /// let mut o = tenantpool_core::PoolOverrides::default();
    /// o.max_size = Some(60);
    /// let d = tenantpool_core::TemplateDirectory::schema("postgres://h/shared", "t_{tenant}")?
    ///     .with_overrides(o);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn with_overrides(mut self, overrides: PoolOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    fn target_for(&self, tenant: &TenantId) -> Result<TenantTarget, ConfigError> {
        let url = DatabaseUrl::parse(
            &self
                .url
                .expose_secret()
                .replace(PLACEHOLDER, tenant.as_str()),
        )?;
        let isolation = match &self.schema {
            Some(s) => {
                Isolation::Schema(SchemaName::parse(&s.replace(PLACEHOLDER, tenant.as_str()))?)
            }
            None => Isolation::Database,
        };
        Ok(TenantTarget {
            url,
            isolation,
            create_missing: self.create_missing,
            overrides: self.overrides.clone(),
        })
    }
}

#[async_trait]
impl TenantDirectory for TemplateDirectory {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        if let Some(allow) = &self.allow {
            if !allow.contains(tenant) {
                return Ok(None);
            }
        }
        match self.target_for(tenant) {
            Ok(target) => Ok(Some(target)),
            // Only a schema name too long for this key can fail here: no such tenant can
            // exist under this template.
            Err(e) => {
                tracing::debug!(%tenant, error = %e, "tenant key does not fit the template");
                Ok(None)
            }
        }
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        Ok(self.allow.as_ref().map(|a| a.iter().cloned().collect()))
    }
}

/// Asks each directory in turn; the first that knows the tenant wins.
///
/// ```
/// use tenantpool_core::{ChainDirectory, StaticDirectory, TemplateDirectory};
/// let dir = ChainDirectory::new()
///     .then(StaticDirectory::new())
///     .then(TemplateDirectory::database("sqlite://data/{tenant}.db")?);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Default)]
pub struct ChainDirectory {
    sources: Vec<Box<dyn TenantDirectory>>,
}

impl ChainDirectory {
    /// An empty chain (knows no tenant).
    ///
    /// ```
    /// let chain = tenantpool_core::ChainDirectory::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a source.
    ///
    /// ```
    /// let chain = tenantpool_core::ChainDirectory::new().then(tenantpool_core::StaticDirectory::new());
    /// ```
    pub fn then(mut self, source: impl TenantDirectory) -> Self {
        self.sources.push(Box::new(source));
        self
    }
}

#[async_trait]
impl TenantDirectory for ChainDirectory {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        for source in &self.sources {
            if let Some(target) = source.lookup(tenant).await? {
                return Ok(Some(target));
            }
        }
        Ok(None)
    }

    /// The union of the sources' lists; `None` as soon as one source cannot list.
    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        let mut all = Vec::new();
        for source in &self.sources {
            match source.list().await? {
                Some(tenants) => all.extend(tenants),
                None => return Ok(None),
            }
        }
        Ok(Some(all))
    }
}

/// The `[directory]` section of the configuration: static tenants, a template, or both
/// (static tenants are looked up first).
///
/// ```toml
/// [directory.tenants.acme]
/// url = "postgres://app@127.0.0.1:5432/tenant_acme"
/// max_size = 4
///
/// [directory.tenants.globex]
/// url = "postgres://app@127.0.0.1:5432/shared"
/// schema = "globex"
///
/// [directory.template]
/// url = "postgres://app@127.0.0.1:5432/tenant_{tenant}"
/// allow = ["initech", "umbrella"]
/// ```
///
/// ```
/// let settings = tenantpool_core::Settings::from_toml_str(r#"
///     [directory.tenants.acme]
///     url = "sqlite://data/acme.db"
///     create_missing = true
/// "#)?;
/// let directory = settings.directory.build()?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Tenants listed one by one, by key.
    pub tenants: BTreeMap<String, StaticTenantConfig>,
    /// A template for every other tenant.
    pub template: Option<TemplateConfig>,
}

/// One statically configured tenant.
///
/// ```
/// let t: tenantpool_core::StaticTenantConfig =
///     serde_json::from_str(r#"{"url": "sqlite://data/a.db", "create_missing": true}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticTenantConfig {
    /// The database URL.
    pub url: DatabaseUrl,
    /// The tenant's schema, for schema-per-tenant isolation.
    #[serde(default)]
    pub schema: Option<String>,
    /// Create the SQLite file or schema when missing.
    #[serde(default)]
    pub create_missing: bool,
    /// Pool size override.
    #[serde(default)]
    pub max_size: Option<usize>,
    /// Fair-share override.
    #[serde(default)]
    pub tenant_max_in_use: Option<usize>,
    /// Checkout timeout override.
    #[serde(default, with = "humantime_serde::option")]
    pub checkout_timeout: Option<Duration>,
}

/// A templated tenant source.
///
/// ```
/// let t: tenantpool_core::TemplateConfig =
///     serde_json::from_str(r#"{"url": "postgres://h/shared", "schema": "t_{tenant}"}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// URL template (must contain `{tenant}` unless `schema` does); its password never
    /// prints.
    pub url: UrlTemplate,
    /// Schema template, for schema-per-tenant isolation.
    #[serde(default)]
    pub schema: Option<String>,
    /// Only these tenant keys exist.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Create missing SQLite files or schemas.
    #[serde(default)]
    pub create_missing: bool,
    /// Pool size override for templated tenants.
    #[serde(default)]
    pub max_size: Option<usize>,
    /// Fair-share override for templated tenants.
    #[serde(default)]
    pub tenant_max_in_use: Option<usize>,
    /// Checkout timeout override for templated tenants.
    #[serde(default, with = "humantime_serde::option")]
    pub checkout_timeout: Option<Duration>,
}

impl DirectoryConfig {
    /// Checks every entry without building anything.
    ///
    /// ```
    /// assert!(tenantpool_core::DirectoryConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.build().map(drop)
    }

    /// Builds the directory the section describes.
    ///
    /// ```
    /// let dir = tenantpool_core::DirectoryConfig::default().build()?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<ChainDirectory, ConfigError> {
        let mut listed = StaticDirectory::new();
        for (key, t) in &self.tenants {
            let tenant = TenantId::parse(key).map_err(|e| ConfigError::Invalid {
                setting: "directory.tenants",
                reason: format!("{key:?}: {e}"),
            })?;
            let mut target = match &t.schema {
                Some(s) => TenantTarget::schema(t.url.clone(), SchemaName::parse(s)?),
                None => TenantTarget::database(t.url.clone()),
            };
            target.create_missing = t.create_missing;
            target.overrides = PoolOverrides {
                max_size: t.max_size,
                tenant_max_in_use: t.tenant_max_in_use,
                checkout_timeout: t.checkout_timeout,
            };
            listed.insert(tenant, target);
        }
        let mut chain = ChainDirectory::new().then(listed);
        if let Some(t) = &self.template {
            let mut dir = TemplateDirectory::new(t.url.expose_secret(), t.schema.as_deref())?
                .with_overrides(PoolOverrides {
                    max_size: t.max_size,
                    tenant_max_in_use: t.tenant_max_in_use,
                    checkout_timeout: t.checkout_timeout,
                });
            if t.create_missing {
                dir = dir.creating_missing();
            }
            if let Some(allow) = &t.allow {
                let keys = allow
                    .iter()
                    .map(|k| TenantId::parse(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::Invalid {
                        setting: "directory.template.allow",
                        reason: e.to_string(),
                    })?;
                dir = dir.try_allow(keys)?;
            }
            chain = chain.then(dir);
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn template_rejects_schema_templates_that_could_break_quoting() {
        assert!(TemplateDirectory::schema("postgres://h/db", "x\"{tenant}").is_err());
        assert!(TemplateDirectory::schema("postgres://h/db", "{tenant}").is_ok());
        assert!(TemplateDirectory::schema("postgres://h/db", "tenant_{tenant}").is_ok());
    }

    #[test]
    fn keys_too_long_for_a_prefixed_schema_template_are_unknown() {
        let dir = TemplateDirectory::schema("postgres://h/db", "tenant_{tenant}").unwrap();
        let long = TenantId::parse(&"a".repeat(60)).unwrap();
        assert!(block_on(dir.lookup(&long)).unwrap().is_none());
        let short = block_on(dir.lookup(&TenantId::parse("acme").unwrap())).unwrap();
        assert_eq!(
            short.unwrap().isolation.schema().unwrap().as_str(),
            "tenant_acme"
        );
    }

    #[test]
    fn allow_list_makes_other_keys_unknown() {
        let dir = TemplateDirectory::database("sqlite://data/{tenant}.db")
            .unwrap()
            .allow([TenantId::parse("acme").unwrap()]);
        let known = block_on(dir.lookup(&TenantId::parse("acme").unwrap())).unwrap();
        let unknown = block_on(dir.lookup(&TenantId::parse("evil").unwrap())).unwrap();
        assert!(known.is_some());
        assert!(unknown.is_none());
    }

    #[test]
    fn static_tenants_win_over_the_template() {
        let settings = crate::Settings::from_toml_str(
            r#"
            [directory.tenants.acme]
            url = "sqlite://special/acme.db"
            max_size = 3
            [directory.template]
            url = "sqlite://data/{tenant}.db"
            "#,
        )
        .unwrap();
        let dir = settings.directory.build().unwrap();
        let acme = block_on(dir.lookup(&TenantId::parse("acme").unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(acme.url.database(), Some("special/acme.db"));
        assert_eq!(acme.overrides.max_size, Some(3));
        let other = block_on(dir.lookup(&TenantId::parse("zed").unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(other.url.database(), Some("data/zed.db"));
    }

    #[test]
    fn config_rejects_invalid_tenant_keys() {
        let err = crate::Settings::from_toml_str(
            "[directory.tenants.\"bad.key\"]\nurl = \"sqlite://a.db\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad.key"), "{err}");
    }
}
