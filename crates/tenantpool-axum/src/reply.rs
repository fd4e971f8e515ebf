//! Error replies as axum responses: the status, the JSON body and `Retry-After` that
//! [`tenantpool_resolve::ErrorReply`] decides, the same in both adapters.

use axum::http::header::{HeaderValue, RETRY_AFTER};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tenantpool_core::TenantId;
use tenantpool_resolve::ErrorReply;

/// The axum response for an [`ErrorReply`].
///
/// ```
/// let resp = tenantpool_axum::reply_response(&tenantpool_resolve::ErrorReply::from_core(&tenantpool_core::Error::Closed));
/// assert_eq!(resp.status(), 503);
/// assert_eq!(resp.headers()["retry-after"], "1");
/// ```
pub fn reply_response(reply: &ErrorReply) -> Response {
    json_response(reply.status, &reply.body, reply.retry_after)
}

/// A JSON response with `status` (500 when it is not a status) and, when given,
/// `Retry-After`: the one shape of every reply decided in `tenantpool_resolve`.
pub(crate) fn json_response(
    status: u16,
    body: &impl serde::Serialize,
    retry_after: Option<u64>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// An error response with the JSON body `{"error": error, "tenant": tenant}`.
///
/// ```
/// use axum::http::StatusCode;
/// let resp = tenantpool_axum::error_response(StatusCode::BAD_REQUEST, "no tenant", None);
/// assert_eq!(resp.status(), 400);
/// ```
pub fn error_response(
    status: StatusCode,
    error: impl Into<String>,
    tenant: Option<&TenantId>,
) -> Response {
    reply_response(&ErrorReply::new(status.as_u16(), error, tenant))
}
