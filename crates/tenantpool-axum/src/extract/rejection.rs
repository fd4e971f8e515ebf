//! Why an extractor refused a request, each with its status and the adapter's JSON body.
//! Statuses and messages are the actix adapter's: both take them from
//! [`tenantpool_resolve::ErrorReply`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tenantpool_core::Error;
use tenantpool_resolve::{ErrorReply, Role};

use crate::reply::{error_response, reply_response};

/// Why [`Tenant`](crate::Tenant) could not be extracted.
///
/// ```
/// use axum::response::IntoResponse;
/// let resp = tenantpool_axum::TenantRejection::Missing.into_response();
/// assert_eq!(resp.status(), 400);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// The layer ran but found no tenant (it is optional here, or the path is exempt): 400.
    #[error("this route needs a tenant, and the request names none")]
    Missing,
    /// The layer did not run for this route: a setup error, 500.
    #[error("no tenant was resolved: wrap this router with tenantpool_axum::TenantLayer")]
    NotResolved,
}

impl TenantRejection {
    /// The status this rejection answers with.
    ///
    /// ```
    /// assert_eq!(tenantpool_axum::TenantRejection::NotResolved.status(), 500);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::BAD_REQUEST,
            Self::NotResolved => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        if matches!(self, Self::NotResolved) {
            tracing::error!("{self}");
        }
        error_response(self.status(), self.to_string(), None)
    }
}

/// A registry the app did not add: 500, naming the missing extension type.
///
/// ```
/// let e = tenantpool_axum::MissingRegistry::of::<tenantpool_axum::Replica>("MyConn");
/// assert!(e.to_string().contains("MyConn"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("missing {type_name}: hand it to the TenantLayer with .registry(TenantRegistry::<{connection}, {role}>::with_role(registry)), or add it with Router::layer(Extension(...))")]
pub struct MissingRegistry {
    type_name: &'static str,
    connection: &'static str,
    role: &'static str,
}

impl MissingRegistry {
    /// The rejection for a missing `TenantRegistry<connection, R>`.
    ///
    /// ```
    /// let e = tenantpool_axum::MissingRegistry::of::<tenantpool_axum::Primary>("AsyncPgConnection");
    /// ```
    pub fn of<R: Role>(connection: &'static str) -> Self {
        Self::new("TenantRegistry", connection, R::NAME)
    }

    /// The rejection naming the full type of the missing extension.
    pub(crate) fn new(
        type_name: &'static str,
        connection: &'static str,
        role: &'static str,
    ) -> Self {
        Self {
            type_name,
            connection,
            role,
        }
    }

    /// The full name of the missing extension type.
    ///
    /// ```
    /// let e = tenantpool_axum::MissingRegistry::of::<tenantpool_axum::Primary>("C");
    /// assert_eq!(e.type_name(), "TenantRegistry");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl IntoResponse for MissingRegistry {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        error_response(StatusCode::INTERNAL_SERVER_ERROR, self.to_string(), None)
    }
}

/// A [`tenantpool_core::Error`] as an axum response: return it from a handler with `?`.
/// 400 malformed, 404 unknown tenant, 503 with `Retry-After` when the pool or the database
/// cannot serve now, 500 otherwise; the body never holds a password, an address or driver
/// text.
///
/// ```
/// use axum::response::IntoResponse;
/// let resp = tenantpool_axum::TenantError::from(tenantpool_core::Error::Closed).into_response();
/// assert_eq!(resp.status(), 503);
/// assert!(resp.headers().contains_key("retry-after"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", tenantpool_resolve::public_message(.0))]
pub struct TenantError(#[source] Error);

impl TenantError {
    /// The core error.
    ///
    /// ```
    /// let e = tenantpool_axum::TenantError::from(tenantpool_core::Error::Closed);
    /// assert!(matches!(e.inner(), tenantpool_core::Error::Closed));
    /// ```
    pub fn inner(&self) -> &Error {
        &self.0
    }

    /// Unwraps the core error.
    ///
    /// ```
    /// let e = tenantpool_axum::TenantError::from(tenantpool_core::Error::Closed).into_inner();
    /// ```
    pub fn into_inner(self) -> Error {
        self.0
    }
}

impl From<Error> for TenantError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for TenantError {
    fn into_response(self) -> Response {
        reply_response(&ErrorReply::from_core(&self.0))
    }
}

/// Why [`TenantConn`](crate::TenantConn) could not be extracted.
///
/// ```
/// use axum::response::IntoResponse;
/// use tenantpool_axum::{TenantConnRejection, TenantRejection};
/// let resp = TenantConnRejection::from(TenantRejection::Missing).into_response();
/// assert_eq!(resp.status(), 400);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantConnRejection {
    /// No tenant: see [`TenantRejection`].
    #[error(transparent)]
    Tenant(#[from] TenantRejection),
    /// The registry is not added: 500.
    #[error(transparent)]
    MissingRegistry(#[from] MissingRegistry),
    /// The checkout failed: 400, 404, 503 or 500 (see [`TenantError`]).
    #[error(transparent)]
    Checkout(#[from] TenantError),
}

impl IntoResponse for TenantConnRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Tenant(e) => e.into_response(),
            Self::MissingRegistry(e) => e.into_response(),
            Self::Checkout(e) => e.into_response(),
        }
    }
}
