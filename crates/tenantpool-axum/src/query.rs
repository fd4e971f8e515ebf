//! Query errors: a failed query as a response, telling "the database is gone right now"
//! (503 with `Retry-After`) from "the query failed" (a generic 500), as the actix adapter
//! does; the body carries no SQL, no driver text and no server address.

use axum::response::{IntoResponse, Response};
use tenantpool_core::{is_connection_error, TenantId};
use tenantpool_resolve::ErrorReply;

use crate::reply::reply_response;

/// A failed query of a tenant's request, as an axum response: return it from a handler.
///
/// ```
/// use axum::response::IntoResponse;
/// let e = tenantpool_axum::QueryError::lost("acme".parse()?, diesel::result::Error::NotFound);
/// let resp = e.into_response();
/// assert_eq!(resp.status(), 503);
/// assert_eq!(resp.headers()["retry-after"], "1");
/// # Ok::<(), tenantpool_core::InvalidTenantId>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}", tenantpool_resolve::query_message(*.lost))]
pub struct QueryError {
    tenant: TenantId,
    lost: bool,
    #[source]
    source: diesel::result::Error,
}

impl QueryError {
    /// Classifies `source` by the error alone ([`is_connection_error`]). Prefer
    /// [`TenantConn::query_error`](crate::TenantConn::query_error), which also asks the
    /// connection whether its socket is closed.
    ///
    /// ```
    /// let e = tenantpool_axum::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(!e.is_lost());
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn new(tenant: TenantId, source: diesel::result::Error) -> Self {
        let lost = is_connection_error(&source);
        Self {
            tenant,
            lost,
            source,
        }
    }

    /// A query error whose connection is known to be lost, whatever the error says.
    ///
    /// ```
    /// let e = tenantpool_axum::QueryError::lost("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(e.is_lost());
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn lost(tenant: TenantId, source: diesel::result::Error) -> Self {
        Self {
            tenant,
            lost: true,
            source,
        }
    }

    /// Whether the connection to the database was lost (503) rather than the query failing
    /// (500).
    ///
    /// ```
    /// let e = tenantpool_axum::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(!e.is_lost());
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The tenant whose query failed.
    ///
    /// ```
    /// let e = tenantpool_axum::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert_eq!(e.tenant().as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The diesel error (may contain SQL and driver text: log it, never show it).
    ///
    /// ```
    /// let e = tenantpool_axum::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(matches!(e.error(), diesel::result::Error::NotFound));
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn error(&self) -> &diesel::result::Error {
        &self.source
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        if self.lost {
            tracing::warn!(tenant = %self.tenant, error = %self.source, "database connection lost during a query");
        } else {
            tracing::error!(tenant = %self.tenant, error = %self.source, "query failed");
        }
        reply_response(&ErrorReply::query_failed(&self.tenant, self.lost))
    }
}
