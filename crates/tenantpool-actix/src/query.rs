//! Query errors: a failed query as a response, telling "the database is gone right now" from
//! "the query failed".
//!
//! A handler's query can fail because the connection to the database was lost (the server
//! restarted, the backend was terminated, the network dropped): that is a 503 with
//! `Retry-After`, and the client should try again. Any other failure (a constraint, a missing
//! table, a bug) is a 500. [`TenantConn::query_error`](crate::TenantConn::query_error) makes the
//! distinction with the core's [`is_connection_error`] and
//! [`PooledConnection::is_lost`](tenantpool_core::PooledConnection::is_lost), and marks a lost
//! connection for closing so that nobody else is handed it.
//!
//! The body is the adapter's usual `{"error": ..., "tenant": ...}` and carries no SQL, no
//! driver text and no server address; the full error goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tenantpool_core::{is_connection_error, TenantId};
use tenantpool_resolve::ErrorReply;

use crate::response::reply_response;

/// A failed query of a tenant's request, as an actix-web error: return it from a handler.
///
/// - connection lost: `503` with `Retry-After`, body `{"error": "the tenant's database
///   connection was lost; retry later", "tenant": "acme"}`;
/// - anything else: `500`, body `{"error": "the tenant's database could not complete the
///   request", "tenant": "acme"}`.
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use actix_web::HttpResponse;
/// use diesel_async::{AsyncPgConnection, RunQueryDsl};
/// use tenantpool_actix::{QueryError, TenantConn};
///
/// async fn touch(mut conn: TenantConn<AsyncPgConnection>) -> Result<HttpResponse, QueryError> {
///     diesel::sql_query("UPDATE counters SET n = n + 1")
///         .execute(&mut conn)
///         .await
///         .map_err(|e| conn.query_error(e))?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
#[derive(Debug)]
pub struct QueryError {
    tenant: TenantId,
    lost: bool,
    source: diesel::result::Error,
}

impl QueryError {
    /// Classifies `source` by the error alone ([`is_connection_error`]). Prefer
    /// [`TenantConn::query_error`](crate::TenantConn::query_error), which also asks the
    /// connection whether its socket is closed.
    ///
    /// ```
    /// use diesel::result::{DatabaseErrorKind, Error};
    /// use tenantpool_actix::QueryError;
    ///
    /// let lost = Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_string()));
    /// assert!(QueryError::new("acme".parse()?, lost).is_lost());
    /// assert!(!QueryError::new("acme".parse()?, Error::NotFound).is_lost());
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
    /// use actix_web::ResponseError;
    /// let e = tenantpool_actix::QueryError::lost("acme".parse()?, diesel::result::Error::NotFound);
    /// assert_eq!(e.status_code(), 503);
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
    /// let e = tenantpool_actix::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(!e.is_lost());
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The tenant whose query failed.
    ///
    /// ```
    /// let e = tenantpool_actix::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert_eq!(e.tenant().as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The diesel error (may contain SQL and driver text: log it, never show it).
    ///
    /// ```
    /// let e = tenantpool_actix::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert!(matches!(e.error(), diesel::result::Error::NotFound));
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn error(&self) -> &diesel::result::Error {
        &self.source
    }

    /// Unwraps the diesel error.
    ///
    /// ```
    /// let e = tenantpool_actix::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// let inner: diesel::result::Error = e.into_inner();
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn into_inner(self) -> diesel::result::Error {
        self.source
    }

    /// The message the client sees: general terms only.
    ///
    /// ```
    /// let e = tenantpool_actix::QueryError::new("acme".parse()?, diesel::result::Error::NotFound);
    /// assert_eq!(e.public_message(), "the tenant's database could not complete the request");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn public_message(&self) -> &'static str {
        tenantpool_resolve::query_message(self.lost)
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.public_message())
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        if self.lost {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.lost {
            tracing::warn!(tenant = %self.tenant, error = %self.source, "database connection lost during a query");
        } else {
            tracing::error!(tenant = %self.tenant, error = %self.source, "query failed");
        }
        reply_response(&ErrorReply::query_failed(&self.tenant, self.lost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::http::header::RETRY_AFTER;
    use diesel::result::{DatabaseErrorKind, Error};

    fn body(resp: HttpResponse) -> String {
        let bytes = resp.into_body().try_into_bytes().unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn a_lost_connection_is_503_with_retry_after_and_no_driver_text() {
        let e = QueryError::new(
            "acme".parse().unwrap(),
            Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("FATAL: terminating connection due to administrator command".to_string()),
            ),
        );
        assert!(e.is_lost());
        let resp = e.error_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers().get(RETRY_AFTER).unwrap(), "1");
        let text = body(resp);
        assert!(!text.contains("terminating"), "{text}");
        assert!(text.contains("\"tenant\":\"acme\""), "{text}");
    }

    #[test]
    fn a_failed_query_is_a_generic_500() {
        let e = QueryError::new(
            "acme".parse().unwrap(),
            Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("relation \"secret_table\" does not exist".to_string()),
            ),
        );
        let resp = e.error_response();
        assert_eq!(resp.status(), 500);
        assert!(resp.headers().get(RETRY_AFTER).is_none());
        let text = body(resp);
        assert!(!text.contains("secret_table"), "{text}");
    }
}
