//! [`ErrorReply`]: what an adapter answers for each failure (status, JSON body,
//! `Retry-After`), decided once for every framework.
//!
//! The status follows the core's [`ErrorKind`]: 400 malformed host or tenant key, 404 unknown
//! tenant, 503 with `Retry-After` for an exhausted pool, a checkout timeout or a database that
//! is down, 500 otherwise. Core errors are already free of passwords; the body goes further:
//! for 5xx errors it says what happened in general terms, without server addresses, database
//! names or driver messages, and the full error goes to the log instead.

use std::time::Duration;

use tenantpool_core::{Error, ErrorKind, TenantId};

use crate::error::ResolveError;
use crate::error_body::ErrorBody;

/// How long a client should wait after a lost connection before it retries.
const LOST_RETRY_AFTER: Duration = Duration::from_secs(1);

/// An error response, framework-free: adapters turn it into their own response type.
///
/// ```
/// use tenantpool_resolve::ErrorReply;
/// let reply = ErrorReply::from_core(&tenantpool_core::Error::Closed);
/// assert_eq!((reply.status, reply.retry_after), (503, Some(1)));
/// assert_eq!(reply.body.error, "the service is shutting down; retry later");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorReply {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: ErrorBody,
    /// Whole seconds for a `Retry-After` header, on 503 only.
    pub retry_after: Option<u64>,
}

impl ErrorReply {
    /// A reply with `status` and the message `error`, without `Retry-After`.
    ///
    /// ```
    /// let reply = tenantpool_resolve::ErrorReply::new(400, "no tenant", None);
    /// assert_eq!(reply.body.tenant, None);
    /// ```
    pub fn new(status: u16, error: impl Into<String>, tenant: Option<&TenantId>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                tenant: tenant.map(|t| t.to_string()),
            },
            retry_after: None,
        }
    }

    /// The reply to a core error: its kind's status, its [`public_message`], and
    /// `Retry-After` on 503. Logs the full error (at `error` for 500, `warn` for 503).
    ///
    /// ```
    /// use tenantpool_core::{Error, TenantId};
    /// let reply = tenantpool_resolve::ErrorReply::from_core(&Error::UnknownTenant { tenant: TenantId::parse("nobody")? });
    /// assert_eq!(reply.status, 404);
    /// assert_eq!(reply.body.error, "unknown tenant \"nobody\"");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn from_core(e: &Error) -> Self {
        match e.kind() {
            ErrorKind::Internal => tracing::error!(error = %e, "tenant connection failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %e, "tenant connection unavailable"),
            ErrorKind::BadRequest | ErrorKind::Forbidden | ErrorKind::NotFound => {
                tracing::debug!(error = %e, "tenant connection refused")
            }
        }
        let status = e.kind().http_status();
        let mut reply = Self::new(status, public_message(e), e.tenant());
        if status == 503 {
            let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
            reply.retry_after = Some(retry_after_secs(wait));
        }
        reply
    }

    /// The reply to a refused resolution: 400 with the resolver's message (which names what
    /// the client sent wrong and nothing else).
    ///
    /// ```
    /// let reply = tenantpool_resolve::ErrorReply::refused(&tenantpool_resolve::ResolveError::Missing);
    /// assert_eq!((reply.status, reply.body.error.as_str()), (400, "the request names no tenant"));
    /// ```
    pub fn refused(e: &ResolveError) -> Self {
        Self::new(400, e.to_string(), None)
    }

    /// The reply to a failed query of `tenant`: 503 with `Retry-After` when the connection
    /// was `lost`, a generic 500 otherwise; never the driver's text.
    ///
    /// ```
    /// let t = tenantpool_core::TenantId::parse("acme")?;
    /// let reply = tenantpool_resolve::ErrorReply::query_failed(&t, true);
    /// assert_eq!((reply.status, reply.retry_after), (503, Some(1)));
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn query_failed(tenant: &TenantId, lost: bool) -> Self {
        if lost {
            let mut reply = Self::new(503, query_message(true), Some(tenant));
            reply.retry_after = Some(retry_after_secs(LOST_RETRY_AFTER));
            reply
        } else {
            Self::new(500, query_message(false), Some(tenant))
        }
    }
}

/// The message a client sees for a failed query: general terms only.
///
/// ```
/// assert_eq!(tenantpool_resolve::query_message(false), "the tenant's database could not complete the request");
/// ```
pub fn query_message(lost: bool) -> &'static str {
    if lost {
        "the tenant's database connection was lost; retry later"
    } else {
        "the tenant's database could not complete the request"
    }
}

/// The message a client sees for a core error: what happened in general terms, never a
/// password, a server address or a driver message.
///
/// ```
/// assert_eq!(
///     tenantpool_resolve::public_message(&tenantpool_core::Error::Closed),
///     "the service is shutting down; retry later"
/// );
/// ```
pub fn public_message(e: &Error) -> String {
    match e {
        Error::InvalidTenant(reason) => format!("invalid tenant key: {reason}"),
        Error::UnknownTenant { tenant } => format!("unknown tenant {:?}", tenant.as_str()),
        Error::Suspended { tenant } => format!("tenant {:?} is suspended", tenant.as_str()),
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
            ErrorKind::Forbidden => "forbidden".into(),
            ErrorKind::NotFound => "not found".into(),
            ErrorKind::Unavailable => "temporarily unavailable; retry later".into(),
            ErrorKind::Internal => {
                "internal error while preparing the tenant's database connection".into()
            }
        },
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tenantpool_resolve::retry_after_secs(Duration::from_millis(1001)), 2);
/// ```
pub fn retry_after_secs(wait: Duration) -> u64 {
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

    #[test]
    fn a_failed_query_says_nothing_of_the_driver() {
        let t = TenantId::parse("acme").unwrap();
        let lost = ErrorReply::query_failed(&t, true);
        assert_eq!((lost.status, lost.retry_after), (503, Some(1)));
        let failed = ErrorReply::query_failed(&t, false);
        assert_eq!((failed.status, failed.retry_after), (500, None));
        assert_eq!(failed.body.tenant.as_deref(), Some("acme"));
    }
}
