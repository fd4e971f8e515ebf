//! A tenant's row in the catalog.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use super::schema::tenantpool_tenants;
use super::CatalogError;
use crate::directory::PoolOverrides;
use crate::TenantId;

/// Whether a tenant is served.
///
/// ```
/// use tenantpool_core::catalog::TenantStatus;
/// assert_eq!("suspended".parse::<TenantStatus>()?, TenantStatus::Suspended);
/// assert_eq!(TenantStatus::Active.to_string(), "active");
/// # Ok::<(), tenantpool_core::catalog::CatalogError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Served.
    Active,
    /// Listed, answered with 403, its database not touched.
    Suspended,
    /// Gone: answered with 404. The row stays, so that the key's history is kept and a
    /// later `create` can take the key again.
    Deleted,
}

impl TenantStatus {
    /// The word stored in the `status` column.
    ///
    /// ```
    /// assert_eq!(tenantpool_core::catalog::TenantStatus::Deleted.as_str(), "deleted");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deleted" => Ok(Self::Deleted),
            other => Err(CatalogError::InvalidRow(format!(
                "unknown status {other:?}"
            ))),
        }
    }
}

/// A tenant as the catalog records it.
///
/// ```no_run
/// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
/// if let Some(record) = catalog.get(&"acme".parse()?).await? {
///     println!("{} lives in {} ({})", record.tenant, record.placement, record.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TenantRecord {
    /// The tenant key.
    pub tenant: TenantId,
    /// The name of the placement (in configuration) that says where its data lives, with
    /// the credentials: the row names it, it never holds a URL.
    pub placement: String,
    /// Whether it is served.
    pub status: TenantStatus,
    /// Pool overrides of this tenant; unset fields take the placement's.
    pub overrides: PoolOverrides,
    /// The version of the last migration applied to the tenant's data, as recorded by
    /// [`TenantMigrations`](crate::migrations::TenantMigrations); `None` before the first.
    pub migration_version: Option<String>,
    /// The catalog's version at the row's last change.
    pub version: i64,
    /// When the row was created, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When the row last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// The row as diesel reads it.
#[derive(diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = tenantpool_tenants)]
pub(super) struct Row {
    pub(super) tenant_key: String,
    pub(super) placement: String,
    pub(super) status: String,
    pub(super) max_size: Option<i32>,
    pub(super) tenant_max_in_use: Option<i32>,
    pub(super) checkout_timeout_ms: Option<i64>,
    pub(super) migration_version: Option<String>,
    pub(super) version: i64,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

impl Row {
    /// The row of a new tenant.
    pub(super) fn new(
        tenant: &TenantId,
        placement: &str,
        overrides: &PoolOverrides,
        version: i64,
        now_ms: i64,
    ) -> Self {
        let count = |n: Option<usize>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        Self {
            tenant_key: tenant.as_str().to_string(),
            placement: placement.to_string(),
            status: TenantStatus::Active.as_str().to_string(),
            max_size: count(overrides.max_size),
            tenant_max_in_use: count(overrides.tenant_max_in_use),
            checkout_timeout_ms: overrides
                .checkout_timeout
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            migration_version: None,
            version,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }
}

impl TryFrom<Row> for TenantRecord {
    type Error = CatalogError;

    fn try_from(row: Row) -> Result<Self, CatalogError> {
        let tenant = TenantId::parse(&row.tenant_key)
            .map_err(|e| CatalogError::InvalidRow(format!("{:?}: {e}", row.tenant_key)))?;
        let count = |n: Option<i32>| n.and_then(|n| usize::try_from(n).ok());
        let overrides = PoolOverrides {
            max_size: count(row.max_size),
            tenant_max_in_use: count(row.tenant_max_in_use),
            checkout_timeout: row
                .checkout_timeout_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
        };
        Ok(Self {
            tenant,
            placement: row.placement,
            status: row.status.parse()?,
            overrides,
            migration_version: row.migration_version,
            version: row.version,
            created_at_ms: row.created_at,
            updated_at_ms: row.updated_at,
        })
    }
}

/// Milliseconds since the Unix epoch, now.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
