//! Placements: where the catalog's tenants live, with the credentials, kept in configuration.

use super::CatalogError;
use crate::directory::{PoolOverrides, TemplateDirectory, TenantTarget};
use crate::{ConfigError, TenantId};

/// A named place for tenants: a URL template (database per tenant) or a URL and a schema
/// template (schema per tenant), `{tenant}` standing for the key.
///
/// A catalog row names its placement; the URL, with its password, stays in configuration or
/// the environment and never in the table. Moving a tenant is changing its row's placement.
///
/// ```
/// use tenantpool_core::catalog::Placement;
/// let shared = Placement::schema("postgres://app@db/shared", "tenant_{tenant}")?.creating_missing();
/// let own = Placement::database("postgres://app@db/tenant_{tenant}")?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Placement {
    template: TemplateDirectory,
    create_missing: bool,
    overrides: PoolOverrides,
}

impl Placement {
    /// One database per tenant; `url` must contain `{tenant}`.
    ///
    /// ```
    /// let p = tenantpool_core::catalog::Placement::database("sqlite://data/{tenant}.db")?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn database(url: &str) -> Result<Self, ConfigError> {
        Self::new(url, None)
    }

    /// One schema per tenant in the database `url`; `schema` must contain `{tenant}`.
    ///
    /// ```
    /// let p = tenantpool_core::catalog::Placement::schema("postgres://app@db/shared", "t_{tenant}")?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn schema(url: &str, schema: &str) -> Result<Self, ConfigError> {
        Self::new(url, Some(schema))
    }

    pub(crate) fn new(url: &str, schema: Option<&str>) -> Result<Self, ConfigError> {
        Ok(Self {
            template: TemplateDirectory::new(url, schema)?,
            create_missing: false,
            overrides: PoolOverrides::default(),
        })
    }

    /// Creates a catalog tenant's SQLite file or schema on its first start when missing
    /// (only tenants with a row: a request alone never creates anything).
    ///
    /// ```
    /// let p = tenantpool_core::catalog::Placement::database("sqlite://data/{tenant}.db")?
    ///     .creating_missing();
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn creating_missing(mut self) -> Self {
        self.create_missing = true;
        self
    }

    /// Pool overrides for the tenants of this placement; a row's own overrides win.
    ///
    /// ```
    /// use tenantpool_core::directory::PoolOverrides;
    /// let mut o = PoolOverrides::default();
    /// o.max_size = Some(2);
    /// let p = tenantpool_core::catalog::Placement::database("sqlite://d/{tenant}.db")?.with_overrides(o);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn with_overrides(mut self, overrides: PoolOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// The target of `tenant` in this placement, with `row` overrides over the placement's.
    pub(crate) fn target(
        &self,
        tenant: &TenantId,
        row: &PoolOverrides,
    ) -> Result<TenantTarget, CatalogError> {
        let mut target = self
            .template
            .target_for(tenant)
            .map_err(|e| CatalogError::InvalidRow(format!("{tenant}: {e}")))?;
        target.create_missing = self.create_missing;
        let base = &self.overrides;
        target.overrides = PoolOverrides {
            max_size: row.max_size.or(base.max_size),
            tenant_max_in_use: row.tenant_max_in_use.or(base.tenant_max_in_use),
            checkout_timeout: row.checkout_timeout.or(base.checkout_timeout),
        };
        Ok(target)
    }
}
