//! Every rejection of the extractors, with its status: what a handler's client sees when an
//! extractor cannot provide its value.
//!
//! | rejection | status |
//! | --- | --- |
//! | [`TenantRejection::Missing`] | 400 |
//! | [`TenantRejection::NotResolved`] | 500 |
//! | [`MissingRegistry`] | 500 |
//! | [`TenantConnRejection`] | the status of what it wraps |
//!
//! A 500 here is a setup error of the app, so it is also logged.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::response::{error_response, TenantError};
use tenantpool_resolve::Role;

/// Why [`Tenant`](crate::Tenant) could not be extracted.
///
/// ```
/// use actix_web::ResponseError;
/// use tenantpool_actix::TenantRejection;
/// assert_eq!(TenantRejection::Missing.status_code(), 400);
/// assert_eq!(TenantRejection::NotResolved.status_code(), 500);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// The resolution middleware ran but found no tenant (it is optional here, or the path
    /// is exempt): 400.
    #[error("this route needs a tenant, and the request names none")]
    Missing,
    /// The resolution middleware did not run for this route: a setup error, 500.
    #[error("no tenant was resolved: wrap this route with tenantpool_actix::ResolveTenant")]
    NotResolved,
}

impl ResponseError for TenantRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::BAD_REQUEST,
            Self::NotResolved => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::NotResolved) {
            tracing::error!("{self}");
        }
        error_response(self.status_code(), self.to_string(), None)
    }
}

/// A registry the app did not register: 500, naming the missing app-data type.
///
/// ```
/// use actix_web::ResponseError;
/// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Replica>("MyConn");
/// assert_eq!(e.status_code(), 500);
/// assert!(e.to_string().contains("MyConn"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("missing app data {type_name}: register it with App::app_data(TenantRegistry::<{connection}, {role}>::with_role(registry))")]
pub struct MissingRegistry {
    type_name: &'static str,
    connection: &'static str,
    role: &'static str,
}

impl MissingRegistry {
    /// The rejection for a missing `TenantRegistry<connection, R>`.
    ///
    /// ```
    /// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Primary>("AsyncPgConnection");
    /// ```
    pub fn of<R: Role>(connection: &'static str) -> Self {
        Self::new("TenantRegistry", connection, R::NAME)
    }

    /// The rejection naming the full type of the missing app data.
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

    /// The full name of the missing app-data type.
    ///
    /// ```
    /// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Primary>("C");
    /// assert_eq!(e.type_name(), "TenantRegistry");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl ResponseError for MissingRegistry {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!("{self}");
        error_response(self.status_code(), self.to_string(), None)
    }
}

/// Why [`TenantConn`](crate::TenantConn) could not be extracted.
///
/// ```
/// use actix_web::ResponseError;
/// use tenantpool_actix::{TenantConnRejection, TenantRejection};
/// let e = TenantConnRejection::from(TenantRejection::Missing);
/// assert_eq!(e.status_code(), 400);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantConnRejection {
    /// No tenant: see [`TenantRejection`].
    #[error(transparent)]
    Tenant(#[from] TenantRejection),
    /// The registry is not registered: 500.
    #[error(transparent)]
    MissingRegistry(#[from] MissingRegistry),
    /// The checkout failed: 400, 404, 503 or 500 (see [`TenantError`]).
    #[error(transparent)]
    Checkout(#[from] TenantError),
}

impl ResponseError for TenantConnRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Tenant(e) => e.status_code(),
            Self::MissingRegistry(e) => e.status_code(),
            Self::Checkout(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Tenant(e) => e.error_response(),
            Self::MissingRegistry(e) => e.error_response(),
            Self::Checkout(e) => e.error_response(),
        }
    }
}
