//! What can go wrong with the catalog.

use crate::TenantId;

/// A catalog operation that failed.
///
/// Messages never carry a password: URLs are masked and driver messages redacted.
///
/// ```
/// use tenantpool_core::catalog::CatalogError;
/// let e = CatalogError::NotFound { tenant: "acme".parse()? };
/// assert_eq!(e.to_string(), "tenant acme is not in the catalog");
/// # Ok::<(), tenantpool_core::InvalidTenantId>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The tenant has no row (or only a deleted one, for operations on live tenants).
    #[error("tenant {tenant} is not in the catalog")]
    NotFound {
        /// The tenant.
        tenant: TenantId,
    },
    /// `create` of a tenant that exists (not deleted).
    #[error("tenant {tenant} already exists in the catalog")]
    Exists {
        /// The tenant.
        tenant: TenantId,
    },
    /// A placement name that the configuration does not define.
    #[error("no placement named {name:?} is configured (known: {known})")]
    UnknownPlacement {
        /// The name asked for.
        name: String,
        /// The configured names, comma-separated.
        known: String,
    },
    /// The control database, or a tenant's server during provisioning, could not be reached.
    #[error("catalog database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("catalog query failed: {0}")]
    Query(String),
    /// The catalog's tables are missing: run `Catalog::install` (`tenantpool catalog install`).
    #[error("the catalog is not installed in its control database (run `tenantpool catalog install`): {0}")]
    NotInstalled(String),
    /// The tenant's lock was not had within the wait (another process provisions it).
    #[error("tenant {tenant} is locked by another provisioning operation")]
    Locked {
        /// The tenant.
        tenant: TenantId,
    },
    /// Not possible on this backend or build.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A row that does not make a valid tenant (an unknown status, a key that is not a
    /// valid tenant key).
    #[error("invalid catalog row: {0}")]
    InvalidRow(String),
}

impl CatalogError {
    /// The error of a failed query, told apart: a missing table means an uninstalled catalog,
    /// a lost connection an unavailable database.
    pub(crate) fn from_query(e: &diesel::result::Error) -> Self {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("tenantpool_")
            && (lower.contains("does not exist")
                || lower.contains("doesn't exist")
                || lower.contains("no such table"))
        {
            Self::NotInstalled(text)
        } else if crate::is_connection_error(e) {
            Self::Unavailable(text)
        } else {
            Self::Query(text)
        }
    }
}
