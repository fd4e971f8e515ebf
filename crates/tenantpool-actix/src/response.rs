//! Error responses: one JSON shape, one status per error class, and no secret in any body.
//!
//! Every refusal of this crate, and every [`tenantpool_core::Error`] wrapped in
//! [`TenantError`], answers with
//!
//! ```json
//! {"error": "unknown tenant \"nobody\"", "tenant": "nobody"}
//! ```
//!
//! (`tenant` is `null` when no tenant was resolved). The status follows the core's
//! [`ErrorKind`]: 400 malformed host or tenant key, 404 unknown tenant, 503 with `Retry-After`
//! for an exhausted pool, a checkout timeout or a database that is down, 500 otherwise.
//!
//! Core errors are already free of passwords. The body goes further: for 5xx errors it says
//! what happened in general terms, without server addresses, database names or driver
//! messages, and the full error goes to the log instead.

use std::time::Duration;

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use tenantpool_core::{Error, ErrorKind, TenantId};

/// The JSON body of every error response.
///
/// ```
/// use tenantpool_actix::ErrorBody;
/// let body: ErrorBody = serde_json::from_str(r#"{"error": "unknown tenant", "tenant": "x"}"#)?;
/// assert_eq!(body.tenant.as_deref(), Some("x"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
    /// The tenant the request was for, when one was resolved.
    pub tenant: Option<String>,
}

/// Builds an error response with the JSON body.
///
/// ```
/// use actix_web::http::StatusCode;
/// let resp = tenantpool_actix::error_response(StatusCode::BAD_REQUEST, "no tenant", None);
/// assert_eq!(resp.status(), 400);
/// ```
pub fn error_response(
    status: StatusCode,
    error: impl Into<String>,
    tenant: Option<&TenantId>,
) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: error.into(),
        tenant: tenant.map(|t| t.to_string()),
    })
}

/// A [`tenantpool_core::Error`] as an actix-web error: return it from a handler with `?`.
///
/// ```
/// use actix_web::HttpResponse;
/// use tenantpool_actix::{Tenant, TenantError, TenantRegistry};
/// use tenantpool_core::Backend;
///
/// /// Mount with `web::get().to(warm::<YourConnection>)`.
/// async fn warm<C: Backend>(tenant: Tenant, registry: TenantRegistry<C>) -> Result<HttpResponse, TenantError> {
///     let _conn = registry.get(tenant.id()).await?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct TenantError(Error);

impl TenantError {
    /// The core error.
    ///
    /// ```
    /// let e = tenantpool_actix::TenantError::from(tenantpool_core::Error::Closed);
    /// assert!(matches!(e.inner(), tenantpool_core::Error::Closed));
    /// ```
    pub fn inner(&self) -> &Error {
        &self.0
    }

    /// Unwraps the core error.
    ///
    /// ```
    /// let e = tenantpool_actix::TenantError::from(tenantpool_core::Error::Closed).into_inner();
    /// ```
    pub fn into_inner(self) -> Error {
        self.0
    }

    /// The message the client sees.
    ///
    /// ```
    /// let e = tenantpool_actix::TenantError::from(tenantpool_core::Error::Closed);
    /// assert_eq!(e.public_message(), "the service is shutting down; retry later");
    /// ```
    pub fn public_message(&self) -> String {
        match &self.0 {
            Error::InvalidTenant(reason) => format!("invalid tenant key: {reason}"),
            Error::UnknownTenant { tenant } => format!("unknown tenant {:?}", tenant.as_str()),
            Error::DatabaseMissing { tenant, .. } | Error::SchemaMissing { tenant, .. } => {
                format!("tenant {:?} is not provisioned", tenant.as_str())
            }
            Error::Exhausted { waited, .. } => format!(
                "no database connection became free within {}; retry later",
                humantime_serde::re::humantime::format_duration(*waited)
            ),
            Error::Unavailable { .. } => "the tenant's database is unavailable; retry later".into(),
            Error::Tls { tenant, .. } => format!(
                "no trusted TLS connection to the database of tenant {:?}; retry later",
                tenant.as_str()
            ),
            Error::Closed => "the service is shutting down; retry later".into(),
            other => match other.kind() {
                ErrorKind::BadRequest => "malformed request".into(),
                ErrorKind::NotFound => "not found".into(),
                ErrorKind::Unavailable => "temporarily unavailable; retry later".into(),
                ErrorKind::Internal => {
                    "internal error while preparing the tenant's database connection".into()
                }
            },
        }
    }
}

impl From<Error> for TenantError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for TenantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.public_message())
    }
}

impl std::error::Error for TenantError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl ResponseError for TenantError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        match e.kind() {
            ErrorKind::Internal => tracing::error!(error = %e, "tenant connection failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %e, "tenant connection unavailable"),
            ErrorKind::BadRequest | ErrorKind::NotFound => {
                tracing::debug!(error = %e, "tenant connection refused")
            }
        }
        let mut resp = error_response(self.status_code(), self.public_message(), e.tenant());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
        }
        resp
    }
}

impl ResponseError for crate::resolve::ResolveError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        error_response(self.status_code(), self.to_string(), None)
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
