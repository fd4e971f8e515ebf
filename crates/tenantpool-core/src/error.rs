//! Errors.
//!
//! One enum, [`Error`], for everything a checkout can fail with. Each variant says what
//! happened and what to do, names the HTTP status the web adapter answers with, and never
//! carries a password: URLs are stored masked and driver messages pass through
//! [`DatabaseUrl::redact`](crate::DatabaseUrl::redact) before they are stored.

use std::time::Duration;

use crate::{ConfigError, InvalidTenantId, SchemaName, ServerKey, TenantId};

/// The coarse class of an [`Error`], which decides the HTTP status.
///
/// ```
/// use tenantpool_core::{Error, ErrorKind, TenantId};
/// let err = Error::UnknownTenant { tenant: TenantId::parse("nobody")? };
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(ErrorKind::NotFound.http_status(), 404);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request named a malformed tenant: 400.
    BadRequest,
    /// The tenant exists but may not be served (suspended): 403.
    Forbidden,
    /// The tenant does not exist: 404.
    NotFound,
    /// Try again later (pool exhausted, database down, shutting down): 503 with `Retry-After`.
    Unavailable,
    /// A fault on our side (configuration, directory, setup hook): 500.
    Internal,
}

impl ErrorKind {
    /// The HTTP status code the web adapter answers with.
    ///
    /// ```
    /// use tenantpool_core::ErrorKind;
    /// assert_eq!(ErrorKind::Unavailable.http_status(), 503);
    /// ```
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

/// Everything a tenant checkout can fail with.
///
/// Cloneable, so that one failed cold start can be reported to every request that waited on
/// it, and so that the negative cache can replay it.
///
/// ```
/// use std::time::Duration;
/// use tenantpool_core::{Error, TenantId};
///
/// let err = Error::Exhausted { tenant: TenantId::parse("acme")?, waited: Duration::from_secs(2) };
/// assert_eq!(err.kind().http_status(), 503);
/// assert_eq!(err.tenant().map(|t| t.as_str()), Some("acme"));
/// assert!(err.retry_after().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tenant key is malformed. HTTP 400.
    #[error("invalid tenant key: {0}")]
    InvalidTenant(#[from] InvalidTenantId),

    /// The tenant directory does not know this tenant. HTTP 404.
    #[error("unknown tenant {tenant:?}")]
    UnknownTenant {
        /// The tenant asked for.
        tenant: TenantId,
    },

    /// The tenant is suspended: the directory lists it, but it is not served and its
    /// database is not touched. HTTP 403.
    #[error("tenant {tenant:?} is suspended")]
    Suspended {
        /// The tenant asked for.
        tenant: TenantId,
    },

    /// The tenant is known but its database does not exist. HTTP 404.
    #[error("the database of tenant {tenant:?} does not exist ({target})")]
    DatabaseMissing {
        /// The tenant asked for.
        tenant: TenantId,
        /// Its database URL, password masked.
        target: String,
    },

    /// The tenant's schema does not exist in its shared database. HTTP 404.
    #[error("the schema {schema} of tenant {tenant:?} does not exist")]
    SchemaMissing {
        /// The tenant asked for.
        tenant: TenantId,
        /// The missing schema.
        schema: SchemaName,
    },

    /// No connection became free within the checkout timeout: the tenant's pool, its fair
    /// share of a shared pool, or the server's connection budget is exhausted. HTTP 503 with
    /// `Retry-After`.
    #[error("no connection for tenant {tenant:?} within {waited:?}: pool or connection budget exhausted")]
    Exhausted {
        /// The tenant asked for.
        tenant: TenantId,
        /// How long the checkout waited.
        waited: Duration,
    },

    /// The database server could not be reached or refused the connection. HTTP 503 with
    /// `Retry-After`.
    #[error("database server {server} is unavailable for tenant {tenant:?}: {reason}")]
    Unavailable {
        /// The tenant asked for.
        tenant: TenantId,
        /// The server that failed.
        server: ServerKey,
        /// The driver's message, with any password removed.
        reason: String,
        /// When it is worth trying again.
        retry_after: Duration,
    },

    /// A TLS connection to the tenant's database could not be set up: its certificate failed
    /// the check the URL's TLS mode asks for (wrong root, wrong host name, expired), the
    /// server offers no TLS where it is required, or a root or key file cannot be read. HTTP
    /// 503 with `Retry-After`; the failure is remembered for the start backoff.
    #[error("TLS to database server {server} failed for tenant {tenant:?}: {reason}")]
    Tls {
        /// The tenant asked for.
        tenant: TenantId,
        /// The server.
        server: ServerKey,
        /// What failed, with any password removed.
        reason: String,
    },

    /// Too many tenants that the directory cannot vouch for are starting at once (see
    /// `backoff.unlisted_starts_per_second`). HTTP 503 with `Retry-After`.
    #[error("too many tenant starts at once; tenant {tenant:?} was not started")]
    Throttled {
        /// The tenant asked for.
        tenant: TenantId,
        /// When a start will be admitted again.
        retry_after: Duration,
    },

    /// The registry is shutting down. HTTP 503.
    #[error("the connection registry is shut down")]
    Closed,

    /// The tenant directory failed to answer. HTTP 500.
    #[error("tenant directory failed for {tenant:?}: {reason}")]
    Directory {
        /// The tenant asked for.
        tenant: TenantId,
        /// What the directory reported.
        reason: String,
    },

    /// Preparing a connection for the tenant failed (schema switch, tenant setup hook).
    /// HTTP 500.
    #[error("setting up a connection for tenant {tenant:?} failed: {reason}")]
    Setup {
        /// The tenant asked for.
        tenant: TenantId,
        /// What failed, with any password removed.
        reason: String,
    },

    /// The configuration is invalid. HTTP 500.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Code that asks for the current tenant ([`current_tenant`](crate::current_tenant),
    /// [`Registry::get_current`](crate::Registry::get_current), [`spawn`](crate::spawn)) runs
    /// outside any tenant's context: no [`with_tenant`](crate::with_tenant) around it, no
    /// adapter middleware in front of it. A bug of the caller, never a fallback to some
    /// default tenant. HTTP 500.
    #[error("no current tenant: this code runs outside tenantpool::with_tenant or the tenant middleware")]
    NoTenantContext,

    /// The tenant directory cannot list its tenants (a fan-out over "every tenant" needs a
    /// directory that can), or listing them failed. HTTP 500.
    #[error("the tenant directory cannot list its tenants: {reason}")]
    CannotList {
        /// Why, with no secret in it.
        reason: String,
    },
}

impl Error {
    /// The class of this error, which decides the HTTP status.
    ///
    /// ```
    /// use tenantpool_core::{Error, ErrorKind};
    /// assert_eq!(Error::Closed.kind(), ErrorKind::Unavailable);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidTenant(_) => ErrorKind::BadRequest,
            Self::Suspended { .. } => ErrorKind::Forbidden,
            Self::UnknownTenant { .. }
            | Self::DatabaseMissing { .. }
            | Self::SchemaMissing { .. } => ErrorKind::NotFound,
            Self::Exhausted { .. }
            | Self::Unavailable { .. }
            | Self::Tls { .. }
            | Self::Throttled { .. }
            | Self::Closed => ErrorKind::Unavailable,
            Self::Directory { .. }
            | Self::Setup { .. }
            | Self::Config(_)
            | Self::NoTenantContext
            | Self::CannotList { .. } => ErrorKind::Internal,
        }
    }

    /// The tenant the error is about, when there is one.
    ///
    /// ```
    /// use tenantpool_core::Error;
    /// assert!(Error::Closed.tenant().is_none());
    /// ```
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::UnknownTenant { tenant }
            | Self::Suspended { tenant }
            | Self::DatabaseMissing { tenant, .. }
            | Self::SchemaMissing { tenant, .. }
            | Self::Exhausted { tenant, .. }
            | Self::Unavailable { tenant, .. }
            | Self::Tls { tenant, .. }
            | Self::Throttled { tenant, .. }
            | Self::Directory { tenant, .. }
            | Self::Setup { tenant, .. } => Some(tenant),
            Self::InvalidTenant(_)
            | Self::Closed
            | Self::Config(_)
            | Self::NoTenantContext
            | Self::CannotList { .. } => None,
        }
    }

    /// For errors worth retrying (HTTP 503), how long to wait first: the value of the
    /// `Retry-After` header.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenantpool_core::Error;
    /// assert_eq!(Error::Closed.retry_after(), Some(Duration::from_secs(1)));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } | Self::Throttled { retry_after, .. } => {
                Some((*retry_after).max(Duration::from_secs(1)))
            }
            Self::Exhausted { .. } | Self::Closed => Some(Duration::from_secs(1)),
            // Remembered for the start backoff (at most `backoff.max`, 2 s by default).
            Self::Tls { .. } => Some(Duration::from_secs(2)),
            _ => None,
        }
    }
}
