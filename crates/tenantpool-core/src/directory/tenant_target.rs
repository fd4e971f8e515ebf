//! A tenant's target: the database it lives in, how it is isolated there, and its pool
//! overrides.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{DatabaseUrl, Isolation, SchemaName};

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
    /// The tenant is suspended: a checkout fails with [`Error::Suspended`](crate::Error)
    /// (HTTP 403) without a pool or a connection being made for it.
    pub suspended: bool,
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
            suspended: false,
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

    /// Marks the tenant suspended: it is listed, but not served (HTTP 403), and its database
    /// is not touched.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, TenantTarget};
    /// let t = TenantTarget::database(DatabaseUrl::parse("sqlite://d/a.db")?).suspend();
    /// assert!(t.suspended);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn suspend(mut self) -> Self {
        self.suspended = true;
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
    /// use tenantpool_core::directory::PoolOverrides;
    /// use tenantpool_core::{DatabaseUrl, TenantTarget};
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

/// Per-tenant pool settings; `None` takes the registry's [`PoolSettings`](crate::config::PoolSettings).
///
/// ```
/// let o = tenantpool_core::directory::PoolOverrides::default();
/// assert!(o.max_size.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolOverrides {
    /// Pool size, for a tenant with a database of its own. For a tenant in a pool shared
    /// with others (schema mode) the most connections it holds at once: the shared pool
    /// keeps the registry's `pool.max_size`, whichever tenant built it.
    #[serde(deserialize_with = "count")]
    pub max_size: Option<usize>,
    /// Fair share of this tenant in a shared pool.
    #[serde(deserialize_with = "count")]
    pub tenant_max_in_use: Option<usize>,
    /// Checkout timeout.
    #[serde(with = "humantime_serde::option")]
    pub checkout_timeout: Option<Duration>,
}

/// A count written as a number or as a string: configuration sections flatten these overrides
/// into their tables, and a flattened field sees environment values as the strings they are
/// (the config crate converts strings to numbers only for fields it deserializes directly).
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(usize),
        Text(String),
    }
    match Option::<Count>::deserialize(d)? {
        None => Ok(None),
        Some(Count::Number(n)) => Ok(Some(n)),
        Some(Count::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a count: {e}"))),
    }
}
