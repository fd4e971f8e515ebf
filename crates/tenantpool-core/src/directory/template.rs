//! Tenant targets made from URL and schema templates.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{DirectoryError, PoolOverrides, TenantDirectory, TenantTarget};
use crate::{ConfigError, DatabaseUrl, Isolation, SchemaName, TenantId, UrlTemplate};

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

    pub(crate) fn new(url: &str, schema: Option<&str>) -> Result<Self, ConfigError> {
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

    /// Creates the missing SQLite files or schemas of the tenants on the allow list
    /// ([`allow`](Self::allow)) on first use. Without an allow list nothing is created: a key
    /// taken from a request alone (any `Host` header) never makes a database object.
    ///
    /// ```
    /// use tenantpool_core::{TemplateDirectory, TenantDirectory, TenantId};
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let listed = TemplateDirectory::database("sqlite://data/{tenant}.db")?
    ///     .allow([TenantId::parse("acme")?])
    ///     .creating_missing();
    /// let acme = listed.lookup(&TenantId::parse("acme")?).await?.expect("listed");
    /// assert!(acme.create_missing);
    ///
    /// let unlisted = TemplateDirectory::database("sqlite://data/{tenant}.db")?.creating_missing();
    /// let anyone = unlisted.lookup(&TenantId::parse("anyone")?).await?.expect("templated");
    /// assert!(!anyone.create_missing);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn creating_missing(mut self) -> Self {
        self.create_missing = true;
        self
    }

    /// Pool overrides for every templated tenant.
    ///
    /// ```
    /// let mut o = tenantpool_core::directory::PoolOverrides::default();
    /// o.max_size = Some(60);
    /// let d = tenantpool_core::TemplateDirectory::schema("postgres://h/shared", "t_{tenant}")?
    ///     .with_overrides(o);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn with_overrides(mut self, overrides: PoolOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    pub(crate) fn target_for(&self, tenant: &TenantId) -> Result<TenantTarget, ConfigError> {
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
            // Only a listed tenant is created (see `creating_missing`).
            create_missing: self.create_missing && self.allow.is_some(),
            overrides: self.overrides.clone(),
            suspended: false,
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
}
