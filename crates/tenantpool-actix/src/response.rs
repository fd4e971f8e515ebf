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

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tenantpool_core::{Error, TenantId};
use tenantpool_resolve::ErrorReply;

pub use tenantpool_resolve::ErrorBody;

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
        tenantpool_resolve::public_message(&self.0)
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
        reply_response(&ErrorReply::from_core(&self.0))
    }
}

/// The actix response for a framework-free [`ErrorReply`]: its status, its JSON body, and
/// `Retry-After` when it has one.
pub(crate) fn reply_response(reply: &ErrorReply) -> HttpResponse {
    json_response(reply.status, &reply.body, reply.retry_after)
}

/// A JSON response with `status` (500 when it is not a status) and, when given,
/// `Retry-After`: the one shape of every reply decided in `tenantpool_resolve`.
pub(crate) fn json_response(
    status: u16,
    body: &impl serde::Serialize,
    retry_after: Option<u64>,
) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status).json(body);
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
