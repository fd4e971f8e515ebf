//! The [`Resolver`]: asks its chain of sources, in order, which tenant a request is for.
//!
//! It is built (and validated) by [`ResolverBuilder`](crate::ResolverBuilder), which
//! also provides [`Resolver::builder`] and [`Resolver::from_config`]; once built it is
//! immutable and shared by every worker.

use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::ResolveError;
use crate::host::Host;
use crate::request::RequestView;
use crate::request_host::{request_host, HostOnce};
use crate::resolved::Resolved;
use crate::source::{Source, SourceSettings};

/// Resolves the tenant of a request; build it once and share it (cloning is cheap).
///
/// ```
/// use tenantpool_resolve::{OwnedRequest, Resolver};
///
/// let resolver = Resolver::builder()
///     .subdomain_of("example.com")
///     .header("X-Tenant-Id")
///     .build()?;
/// let req = OwnedRequest::get("/").header("Host", "acme.example.com");
/// assert_eq!(resolver.resolve(&req)?.map(|r| r.tenant.to_string()), Some("acme".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

/// Everything a built resolver holds, validated.
pub(crate) struct Inner {
    /// The chain, in the order it is asked.
    pub(crate) sources: Vec<Source>,
    pub(crate) settings: SourceSettings,
    /// Peers whose forwarding headers are believed.
    pub(crate) trusted: Vec<IpNet>,
    /// Path prefixes that need no tenant.
    pub(crate) exempt: Vec<String>,
    pub(crate) required: bool,
}

impl Resolver {
    /// The resolver for `inner`, which the builder has validated.
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Whether `path` needs no tenant.
    ///
    /// ```
    /// let r = tenantpool_resolve::Resolver::builder().exempt("/healthz").build()?;
    /// assert!(r.is_exempt("/healthz"));
    /// assert!(!r.is_exempt("/healthzz"));
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn is_exempt(&self, path: &str) -> bool {
        self.inner.exempt.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
            })
        })
    }

    /// Whether a request without a tenant is refused by the middleware.
    ///
    /// ```
    /// let r = tenantpool_resolve::Resolver::builder().optional().build()?;
    /// assert!(!r.is_required());
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn is_required(&self) -> bool {
        self.inner.required
    }

    /// The tenant header's name, in lower case, when the header source is configured.
    /// Adapters parse it once into their own header-name type, so that the header map is
    /// searched without parsing (or allocating) a name per request.
    ///
    /// ```
    /// let r = tenantpool_resolve::Resolver::builder().header("X-Tenant-Id").build()?;
    /// assert_eq!(r.tenant_header(), Some("x-tenant-id"));
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn tenant_header(&self) -> Option<&str> {
        self.inner.settings.header.as_deref()
    }

    /// Asks each source in turn. `Ok(None)`: no source found a tenant.
    ///
    /// ```
    /// use tenantpool_resolve::OwnedRequest;
    /// let r = tenantpool_resolve::Resolver::builder().header("X-Tenant-Id").build()?;
    /// let req = OwnedRequest::get("/").header("X-Tenant-Id", "Globex");
    /// assert_eq!(r.resolve(&req)?.map(|t| t.tenant.to_string()), Some("globex".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve<R: RequestView>(&self, req: &R) -> Result<Option<Resolved>, ResolveError> {
        let mut host = HostOnce::new(req, &self.inner.trusted);
        for source in &self.inner.sources {
            if let Some(found) = source.find(&self.inner.settings, req, &mut host)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The host the request is for, after the trusted-proxy rule. `Ok(None)`: no host at all
    /// (an HTTP/1.0 request without `Host`).
    ///
    /// ```
    /// use tenantpool_resolve::OwnedRequest;
    /// let r = tenantpool_resolve::Resolver::builder().build()?;
    /// let req = OwnedRequest::get("/")
    ///     .header("Host", "acme.example.com")
    ///     .header("X-Forwarded-Host", "evil.example.com");
    /// // No trusted proxy is configured: the forwarded host is ignored.
    /// assert_eq!(r.host(&req)?.and_then(|h| h.domain().map(String::from)).as_deref(), Some("acme.example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn host<R: RequestView + ?Sized>(&self, req: &R) -> Result<Option<Host>, ResolveError> {
        request_host(req, &self.inner.trusted)
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let s = &i.settings;
        f.debug_struct("Resolver")
            .field(
                "sources",
                &i.sources.iter().map(Source::name).collect::<Vec<_>>(),
            )
            .field("base_domains", &s.base_domains)
            .field("reserved", &s.reserved)
            .field("domains", &s.domains)
            .field("header", &s.header)
            .field("path_prefix", &s.path_prefix)
            .field("trusted", &i.trusted)
            .field("exempt", &i.exempt)
            .field("required", &i.required)
            .finish()
    }
}
