//! Why a request's tenant could not be resolved: every refusal of the resolver, each with
//! what the client got wrong. The middleware answers all of them with 400.

use tenantpool_core::InvalidTenantId;

use crate::host::InvalidHost;
use crate::resolved::ResolvedBy;

/// Why a request's tenant could not be resolved. The middleware answers `400 Bad Request`.
///
/// ```
/// use tenantpool_resolve::ResolveError;
/// let e = ResolveError::custom("the session names no tenant");
/// assert_eq!(e.to_string(), "the session names no tenant");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The host (from `Host`, or from a trusted proxy's header) is malformed.
    #[error("malformed host in {origin}: {reason}")]
    InvalidHost {
        /// Where the host came from: `Host`, `Forwarded` or `X-Forwarded-Host`.
        origin: &'static str,
        /// What is wrong with it.
        reason: InvalidHost,
    },
    /// A trusted proxy's forwarding header does not parse.
    #[error("malformed {header} header from a trusted proxy")]
    InvalidForwarded {
        /// The header.
        header: &'static str,
    },
    /// The request carries several `Host` headers, or several tenant headers.
    #[error("the {header} header is given more than once")]
    RepeatedHeader {
        /// The header.
        header: String,
    },
    /// A subdomain of a base domain that cannot be a tenant: nested (`a.b.example.com`) or
    /// punycode (`xn--…`).
    #[error("{host} is not a tenant host: {reason}")]
    NotATenantHost {
        /// The (validated) host.
        host: String,
        /// Why.
        reason: &'static str,
    },
    /// A source found a tenant key that is not valid.
    #[error("invalid tenant key in the {origin}: {reason}")]
    InvalidTenant {
        /// The source that found it.
        origin: ResolvedBy,
        /// Why the key is invalid.
        reason: InvalidTenantId,
    },
    /// No source found a tenant.
    #[error("the request names no tenant")]
    Missing,
    /// Refused by an application closure.
    #[error("{0}")]
    Custom(String),
}

impl ResolveError {
    /// An error from an application closure, shown to the client as is. Put no secret in it.
    ///
    /// ```
    /// let e = tenantpool_resolve::ResolveError::custom("expired session");
    /// ```
    pub fn custom(message: impl Into<String>) -> Self {
        Self::Custom(message.into())
    }
}
