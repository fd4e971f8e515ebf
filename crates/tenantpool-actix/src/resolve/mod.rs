//! Tenant resolution: which tenant a request is for.
//!
//! A [`Resolver`] asks an ordered chain of sources; the first that finds a tenant wins:
//!
//! | source | example | configured by |
//! | --- | --- | --- |
//! | subdomain of a base domain | `acme.example.com` → `acme` | `base_domains`, `reserved` |
//! | custom domain map | `notes.acme-corp.com` → `acme` | `[resolve.domains]` |
//! | header | `X-Tenant-Id: acme` | `header` |
//! | path prefix | `/t/acme/notes` → `acme`, routed as `/notes` | `path_prefix`, `strip_path_prefix` |
//! | your closure | a claim of a session cookie | [`ResolverBuilder::custom`] |
//!
//! Each source answers "found", "not here" (the next source is asked) or "malformed" (the
//! request is refused with 400 and no further source is asked). A subdomain that is a
//! reserved name (`www`, `api`), the bare base domain, an IP address and a foreign host are
//! "not here"; a nested subdomain (`a.b.example.com`), a punycode label (`xn--…`, which a
//! browser could display as a look-alike of a real tenant) or an invalid key are "malformed".
//!
//! The host is the request's `Host` (or, for HTTP/2 and absolute-form requests, the URI's
//! authority). `Forwarded: host=` and `X-Forwarded-Host` replace it only when the TCP peer is
//! a configured trusted proxy (an IP or CIDR), and then only their last entry, the one that
//! proxy wrote, is read.

mod forwarded;
mod host;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{HeaderName, HOST};
use actix_web::HttpRequest;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tenantpool_core::{InvalidTenantId, TenantId};

pub use self::host::{Host, HostName, InvalidHost};
use crate::SetupError;

/// The `[resolve]` section of the configuration.
///
/// ```toml
/// [resolve]
/// sources = ["subdomain", "domain", "header", "path"]   # order; default: this order
/// base_domains = ["example.com"]
/// reserved = ["www", "api"]                             # default
/// header = "X-Tenant-Id"
/// path_prefix = "/t"
/// strip_path_prefix = true                              # default
/// trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
/// exempt = ["/healthz", "/_tenantpool"]
/// required = true                                       # default
///
/// [resolve.domains]
/// "notes.acme-corp.com" = "acme"
/// ```
///
/// ```
/// use tenantpool_actix::resolve::ResolveConfig;
///
/// let cfg = config::Config::builder()
///     .add_source(config::File::from_str(
///         "[resolve]\nbase_domains = [\"example.com\"]\nheader = \"X-Tenant-Id\"",
///         config::FileFormat::Toml,
///     ))
///     .build()?;
/// let resolve = ResolveConfig::from_config(&cfg)?;
/// assert_eq!(resolve.base_domains, ["example.com"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResolveConfig {
    /// The order in which sources are asked: `subdomain`, `domain`, `header`, `path`, or the
    /// name of a closure registered with [`ResolverBuilder::custom`]. Default: every configured
    /// source in that order, closures last.
    pub sources: Option<Vec<String>>,
    /// Base domains whose first-level subdomains are tenants.
    pub base_domains: Vec<String>,
    /// Subdomains that are never tenants. Default `["www", "api"]`.
    pub reserved: Vec<String>,
    /// Custom domains, each mapped to a tenant key.
    pub domains: BTreeMap<String, String>,
    /// A header that names the tenant.
    pub header: Option<String>,
    /// A path prefix followed by the tenant: `"/t"` serves `/t/{tenant}/...`.
    pub path_prefix: Option<String>,
    /// Route `/t/{tenant}/notes` as `/notes` (default), or keep the prefix for routing under a
    /// `web::scope("/t/{tenant}")`.
    pub strip_path_prefix: bool,
    /// Peers whose `Forwarded` / `X-Forwarded-Host` headers are believed: IPs or CIDRs.
    pub trusted_proxies: Vec<String>,
    /// Path prefixes that need no tenant (health checks, admin routes).
    pub exempt: Vec<String>,
    /// Refuse a request in which no source finds a tenant (default). When false, such a
    /// request goes on without a tenant, and the extractors refuse it instead.
    pub required: bool,
}

impl Default for ResolveConfig {
    fn default() -> Self {
        Self {
            sources: None,
            base_domains: Vec::new(),
            reserved: vec!["www".into(), "api".into()],
            domains: BTreeMap::new(),
            header: None,
            path_prefix: None,
            strip_path_prefix: true,
            trusted_proxies: Vec::new(),
            exempt: Vec::new(),
            required: true,
        }
    }
}

impl ResolveConfig {
    /// Reads the `[resolve]` section (all defaults when it is absent).
    ///
    /// ```
    /// let cfg = config::Config::builder().build()?;
    /// let resolve = tenantpool_actix::resolve::ResolveConfig::from_config(&cfg)?;
    /// assert!(resolve.required);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        match config.get::<Self>("resolve") {
            Ok(section) => Ok(section),
            Err(config::ConfigError::NotFound(_)) => Ok(Self::default()),
            Err(e) => Err(SetupError::Load {
                section: "resolve",
                reason: e.to_string(),
            }),
        }
    }
}

/// Which source found the tenant.
///
/// ```
/// use tenantpool_actix::resolve::ResolvedBy;
/// assert_eq!(ResolvedBy::Header.to_string(), "header");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolvedBy {
    /// A subdomain of a base domain.
    Subdomain,
    /// The custom domain map.
    Domain,
    /// The tenant header.
    Header,
    /// The path prefix.
    Path,
    /// An application closure, by the name it was registered with.
    Custom(Arc<str>),
}

impl fmt::Display for ResolvedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subdomain => "subdomain",
            Self::Domain => "domain",
            Self::Header => "header",
            Self::Path => "path",
            Self::Custom(name) => name,
        })
    }
}

/// A tenant found in a request.
///
/// ```
/// # fn f(resolver: &tenantpool_actix::resolve::Resolver, req: &actix_web::HttpRequest) -> Result<(), tenantpool_actix::resolve::ResolveError> {
/// if let Some(found) = resolver.resolve(req)? {
///     println!("{} (from the {})", found.tenant, found.source);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// The tenant.
    pub tenant: TenantId,
    /// The source that found it.
    pub source: ResolvedBy,
    /// For the path source with stripping on: the path (and query) to route instead.
    pub rewritten_path: Option<String>,
}

/// Why a request's tenant could not be resolved. The middleware answers `400 Bad Request`.
///
/// ```
/// use tenantpool_actix::resolve::ResolveError;
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
    /// let e = tenantpool_actix::resolve::ResolveError::custom("expired session");
    /// ```
    pub fn custom(message: impl Into<String>) -> Self {
        Self::Custom(message.into())
    }
}

/// An application closure: `Ok(Some(tenant))` found, `Ok(None)` not here, `Err` refuse.
type CustomFn = dyn Fn(&HttpRequest) -> Result<Option<TenantId>, ResolveError> + Send + Sync;

#[derive(Clone)]
enum Source {
    Subdomain,
    Domain,
    Header,
    Path,
    Custom(Arc<str>, Arc<CustomFn>),
}

impl Source {
    fn name(&self) -> &str {
        match self {
            Self::Subdomain => "subdomain",
            Self::Domain => "domain",
            Self::Header => "header",
            Self::Path => "path",
            Self::Custom(name, _) => name,
        }
    }
}

/// Resolves the tenant of a request; build it once and share it (cloning is cheap).
///
/// ```
/// use actix_web::test::TestRequest;
/// use tenantpool_actix::resolve::Resolver;
///
/// let resolver = Resolver::builder()
///     .subdomain_of("example.com")
///     .header("X-Tenant-Id")
///     .build()?;
/// let req = TestRequest::default().insert_header(("Host", "acme.example.com")).to_http_request();
/// assert_eq!(resolver.resolve(&req)?.map(|r| r.tenant.to_string()), Some("acme".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Source>,
    base_domains: Vec<String>,
    reserved: Vec<String>,
    domains: BTreeMap<String, TenantId>,
    header: Option<HeaderName>,
    path_prefix: Option<String>,
    strip_path_prefix: bool,
    trusted: Vec<IpNet>,
    exempt: Vec<String>,
    required: bool,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Resolver")
            .field(
                "sources",
                &i.sources.iter().map(Source::name).collect::<Vec<_>>(),
            )
            .field("base_domains", &i.base_domains)
            .field("reserved", &i.reserved)
            .field("domains", &i.domains)
            .field("header", &i.header)
            .field("path_prefix", &i.path_prefix)
            .field("trusted", &i.trusted)
            .field("exempt", &i.exempt)
            .field("required", &i.required)
            .finish()
    }
}

impl Resolver {
    /// An empty builder; sources are asked in the order they are added.
    ///
    /// ```
    /// let resolver = tenantpool_actix::resolve::Resolver::builder().header("X-Tenant-Id").build()?;
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// A resolver made from the `[resolve]` section alone.
    ///
    /// ```
    /// use tenantpool_actix::resolve::{ResolveConfig, Resolver};
    /// let mut cfg = ResolveConfig::default();
    /// cfg.header = Some("X-Tenant-Id".into());
    /// let resolver = Resolver::from_config(&cfg)?;
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn from_config(config: &ResolveConfig) -> Result<Self, SetupError> {
        ResolverBuilder::from_config(config)?.build()
    }

    /// Whether `path` needs no tenant.
    ///
    /// ```
    /// let r = tenantpool_actix::resolve::Resolver::builder().exempt("/healthz").build()?;
    /// assert!(r.is_exempt("/healthz"));
    /// assert!(!r.is_exempt("/healthzz"));
    /// # Ok::<(), tenantpool_actix::SetupError>(())
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
    /// let r = tenantpool_actix::resolve::Resolver::builder().optional().build()?;
    /// assert!(!r.is_required());
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn is_required(&self) -> bool {
        self.inner.required
    }

    /// Asks each source in turn. `Ok(None)`: no source found a tenant.
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// let r = tenantpool_actix::resolve::Resolver::builder().header("X-Tenant-Id").build()?;
    /// let req = TestRequest::default().insert_header(("X-Tenant-Id", "Globex")).to_http_request();
    /// assert_eq!(r.resolve(&req)?.map(|t| t.tenant.to_string()), Some("globex".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self, req: &HttpRequest) -> Result<Option<Resolved>, ResolveError> {
        let mut host: Option<Option<Host>> = None;
        for source in &self.inner.sources {
            let found = match source {
                Source::Subdomain | Source::Domain => {
                    let host = match &host {
                        Some(h) => h.clone(),
                        None => {
                            let h = self.host(req)?;
                            host = Some(h.clone());
                            h
                        }
                    };
                    match (source, host) {
                        (Source::Subdomain, Some(h)) => self.by_subdomain(&h)?,
                        (_, Some(h)) => self.by_domain(&h),
                        (_, None) => None,
                    }
                }
                Source::Header => self.by_header(req)?,
                Source::Path => match self.by_path(req)? {
                    Some((tenant, rewritten_path)) => {
                        return Ok(Some(Resolved {
                            tenant,
                            source: ResolvedBy::Path,
                            rewritten_path,
                        }))
                    }
                    None => None,
                },
                Source::Custom(_, f) => f(req)?,
            };
            if let Some(tenant) = found {
                let source = match source {
                    Source::Subdomain => ResolvedBy::Subdomain,
                    Source::Domain => ResolvedBy::Domain,
                    Source::Header => ResolvedBy::Header,
                    Source::Path => ResolvedBy::Path,
                    Source::Custom(name, _) => ResolvedBy::Custom(name.clone()),
                };
                return Ok(Some(Resolved {
                    tenant,
                    source,
                    rewritten_path: None,
                }));
            }
        }
        Ok(None)
    }

    /// The host the request is for, after the trusted-proxy rule. `Ok(None)`: no host at all
    /// (an HTTP/1.0 request without `Host`).
    ///
    /// ```
    /// use actix_web::test::TestRequest;
    /// let r = tenantpool_actix::resolve::Resolver::builder().build()?;
    /// let req = TestRequest::default()
    ///     .insert_header(("Host", "acme.example.com"))
    ///     .insert_header(("X-Forwarded-Host", "evil.example.com"))
    ///     .to_http_request();
    /// // No trusted proxy is configured: the forwarded host is ignored.
    /// assert_eq!(r.host(&req)?.and_then(|h| h.domain().map(String::from)).as_deref(), Some("acme.example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn host(&self, req: &HttpRequest) -> Result<Option<Host>, ResolveError> {
        let headers = req.headers();
        if self.is_trusted(req.peer_addr().map(|a| a.ip())) {
            let forwarded =
                forwarded::forwarded_host(headers.get_all("forwarded").map(|v| v.as_bytes()))
                    .map_err(|_| ResolveError::InvalidForwarded {
                        header: "Forwarded",
                    })?;
            if let Some(raw) = forwarded {
                return parse_host(&raw, "Forwarded").map(Some);
            }
            let x_forwarded = forwarded::x_forwarded_host(
                headers.get_all("x-forwarded-host").map(|v| v.as_bytes()),
            )
            .map_err(|_| ResolveError::InvalidForwarded {
                header: "X-Forwarded-Host",
            })?;
            if let Some(raw) = x_forwarded {
                return parse_host(&raw, "X-Forwarded-Host").map(Some);
            }
        }
        if let Some(authority) = req.uri().authority() {
            return parse_host(authority.as_str(), "the request URI").map(Some);
        }
        let mut hosts = headers.get_all(HOST);
        let Some(value) = hosts.next() else {
            return Ok(None);
        };
        if hosts.next().is_some() {
            return Err(ResolveError::RepeatedHeader {
                header: "Host".into(),
            });
        }
        let raw = std::str::from_utf8(value.as_bytes()).map_err(|_| ResolveError::InvalidHost {
            origin: "Host",
            reason: InvalidHost::ForbiddenCharacter,
        })?;
        parse_host(raw, "Host").map(Some)
    }

    fn is_trusted(&self, peer: Option<IpAddr>) -> bool {
        let Some(ip) = peer else {
            return false;
        };
        let ip = ip.to_canonical();
        self.inner.trusted.iter().any(|net| net.contains(&ip))
    }

    fn by_subdomain(&self, host: &Host) -> Result<Option<TenantId>, ResolveError> {
        let Some(name) = host.domain() else {
            return Ok(None);
        };
        // Longest base first, so that `eu.example.com` wins over `example.com`.
        for base in &self.inner.base_domains {
            let Some(label) = name
                .strip_suffix(base.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
            else {
                continue;
            };
            let refuse = |reason| ResolveError::NotATenantHost {
                host: name.to_string(),
                reason,
            };
            if label.contains('.') {
                return Err(refuse("only one label may precede the base domain"));
            }
            if label.starts_with("xn--") {
                return Err(refuse(
                    "internationalised (punycode) labels are not tenant keys",
                ));
            }
            if self.inner.reserved.iter().any(|r| r == label) {
                return Ok(None);
            }
            return TenantId::parse(label).map(Some).map_err(|reason| {
                ResolveError::InvalidTenant {
                    origin: ResolvedBy::Subdomain,
                    reason,
                }
            });
        }
        Ok(None)
    }

    fn by_domain(&self, host: &Host) -> Option<TenantId> {
        host.domain()
            .and_then(|name| self.inner.domains.get(name))
            .cloned()
    }

    fn by_header(&self, req: &HttpRequest) -> Result<Option<TenantId>, ResolveError> {
        let Some(name) = &self.inner.header else {
            return Ok(None);
        };
        let mut values = req.headers().get_all(name);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ResolveError::RepeatedHeader {
                header: name.to_string(),
            });
        }
        let invalid = |reason| ResolveError::InvalidTenant {
            origin: ResolvedBy::Header,
            reason,
        };
        let raw = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            invalid(InvalidTenantId::InvalidCharacter {
                found: char::REPLACEMENT_CHARACTER,
                position: 0,
            })
        })?;
        TenantId::parse(raw.trim_matches([' ', '\t']))
            .map(Some)
            .map_err(invalid)
    }

    fn by_path(
        &self,
        req: &HttpRequest,
    ) -> Result<Option<(TenantId, Option<String>)>, ResolveError> {
        let Some(prefix) = &self.inner.path_prefix else {
            return Ok(None);
        };
        let path = req.path();
        let Some(rest) = path.strip_prefix(prefix.as_str()) else {
            return Ok(None);
        };
        let Some(rest) = rest.strip_prefix('/') else {
            if rest.is_empty() {
                return Err(ResolveError::InvalidTenant {
                    origin: ResolvedBy::Path,
                    reason: InvalidTenantId::Empty,
                });
            }
            // `/tx/...` for prefix `/t`: another route entirely.
            return Ok(None);
        };
        let (segment, tail) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let tenant = TenantId::parse(segment).map_err(|reason| ResolveError::InvalidTenant {
            origin: ResolvedBy::Path,
            reason,
        })?;
        let rewritten = self
            .inner
            .strip_path_prefix
            .then(|| match req.uri().query() {
                Some(query) => format!("{tail}?{query}"),
                None => tail.to_string(),
            });
        Ok(Some((tenant, rewritten)))
    }
}

fn parse_host(raw: &str, origin: &'static str) -> Result<Host, ResolveError> {
    Host::parse(raw).map_err(|reason| ResolveError::InvalidHost { origin, reason })
}

/// Builds a [`Resolver`], in code or from a [`ResolveConfig`].
///
/// ```
/// use tenantpool_actix::resolve::{ResolveError, Resolver};
/// use tenantpool_core::TenantId;
///
/// let resolver = Resolver::builder()
///     .subdomain_of("example.com")
///     .reserved(["www", "api", "status"])
///     .domain("notes.acme-corp.com", "acme")
///     .header("X-Tenant-Id")
///     .path_prefix("/t")
///     .custom("gateway", |req| match req.headers().get("x-gateway-tenant") {
///         Some(v) => {
///             let raw = v.to_str().map_err(|_| ResolveError::custom("unreadable gateway header"))?;
///             TenantId::parse(raw).map(Some).map_err(|e| ResolveError::custom(e.to_string()))
///         }
///         None => Ok(None),
///     })
///     .trust_proxy("10.0.0.0/8")
///     .exempt("/healthz")
///     .build()?;
/// # Ok::<(), tenantpool_actix::SetupError>(())
/// ```
#[derive(Default)]
pub struct ResolverBuilder {
    order: Vec<Source>,
    explicit_order: Option<Vec<String>>,
    base_domains: Vec<String>,
    reserved: Option<Vec<String>>,
    domains: Vec<(String, String)>,
    header: Option<String>,
    path_prefix: Option<String>,
    keep_path_prefix: bool,
    trusted: Vec<String>,
    exempt: Vec<String>,
    optional: bool,
}

impl ResolverBuilder {
    /// A builder preset from the `[resolve]` section; further calls add to it.
    ///
    /// ```
    /// use tenantpool_actix::resolve::{ResolveConfig, ResolverBuilder};
    /// let resolver = ResolverBuilder::from_config(&ResolveConfig::default())?
    ///     .custom("demo", |_req| Ok(None))
    ///     .build()?;
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn from_config(config: &ResolveConfig) -> Result<Self, SetupError> {
        let mut b = Self {
            explicit_order: config.sources.clone(),
            reserved: Some(config.reserved.clone()),
            keep_path_prefix: !config.strip_path_prefix,
            optional: !config.required,
            ..Self::default()
        };
        for base in &config.base_domains {
            b = b.subdomain_of(base);
        }
        for (domain, tenant) in &config.domains {
            b = b.domain(domain, tenant);
        }
        if let Some(header) = &config.header {
            b = b.header(header);
        }
        if let Some(prefix) = &config.path_prefix {
            b = b.path_prefix(prefix);
        }
        for proxy in &config.trusted_proxies {
            b = b.trust_proxy(proxy);
        }
        for path in &config.exempt {
            b = b.exempt(path);
        }
        Ok(b)
    }

    fn add(&mut self, source: Source) {
        if !self.order.iter().any(|s| s.name() == source.name()) {
            self.order.push(source);
        }
    }

    /// Resolves first-level subdomains of `base` (`acme.example.com` → `acme`). May be called
    /// for several base domains.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().subdomain_of("example.com").subdomain_of("localhost");
    /// ```
    pub fn subdomain_of(mut self, base: &str) -> Self {
        self.base_domains.push(base.to_string());
        self.add(Source::Subdomain);
        self
    }

    /// Subdomains that are never tenants (default `www` and `api`); replaces the list.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().reserved(["www", "api", "mail"]);
    /// ```
    pub fn reserved<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reserved = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Maps a custom domain to a tenant.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().domain("notes.acme-corp.com", "acme");
    /// ```
    pub fn domain(mut self, domain: &str, tenant: &str) -> Self {
        self.domains.push((domain.to_string(), tenant.to_string()));
        self.add(Source::Domain);
        self
    }

    /// Reads the tenant from a header.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().header("X-Tenant-Id");
    /// ```
    pub fn header(mut self, name: &str) -> Self {
        self.header = Some(name.to_string());
        self.add(Source::Header);
        self
    }

    /// Reads the tenant from the path segment after `prefix` (`/t/acme/notes`), and routes the
    /// rest (`/notes`) unless [`keep_path_prefix`](Self::keep_path_prefix) is called.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().path_prefix("/t");
    /// ```
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self.add(Source::Path);
        self
    }

    /// Keeps the path prefix for routing, for apps that mount their routes under
    /// `web::scope("/t/{tenant}")`.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().path_prefix("/t").keep_path_prefix();
    /// ```
    pub fn keep_path_prefix(mut self) -> Self {
        self.keep_path_prefix = true;
        self
    }

    /// Asks `resolve` (named `name`, for the `sources` order and for logs): `Ok(Some)` found,
    /// `Ok(None)` ask the next source, `Err` refuse the request with 400.
    ///
    /// ```
    /// use tenantpool_core::TenantId;
    /// let b = tenantpool_actix::resolve::Resolver::builder().custom("query", |req| {
    ///     let q = req.query_string();
    ///     match q.strip_prefix("tenant=") {
    ///         Some(t) => Ok(TenantId::parse(t).ok()),
    ///         None => Ok(None),
    ///     }
    /// });
    /// ```
    pub fn custom<F>(mut self, name: &str, resolve: F) -> Self
    where
        F: Fn(&HttpRequest) -> Result<Option<TenantId>, ResolveError> + Send + Sync + 'static,
    {
        self.order.retain(|s| s.name() != name);
        self.order
            .push(Source::Custom(Arc::from(name), Arc::new(resolve)));
        self
    }

    /// Believes `Forwarded` / `X-Forwarded-Host` from this peer: an IP (`10.1.2.3`, `::1`) or a
    /// CIDR (`10.0.0.0/8`).
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().trust_proxy("127.0.0.1").trust_proxy("fd00::/8");
    /// ```
    pub fn trust_proxy(mut self, net: &str) -> Self {
        self.trusted.push(net.to_string());
        self
    }

    /// Lets requests whose path starts with `prefix` (a whole segment) through without a tenant.
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().exempt("/healthz").exempt("/_tenantpool");
    /// ```
    pub fn exempt(mut self, prefix: &str) -> Self {
        self.exempt.push(prefix.to_string());
        self
    }

    /// Lets requests without a tenant through; the extractors refuse them instead (400).
    ///
    /// ```
    /// let b = tenantpool_actix::resolve::Resolver::builder().optional();
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Validates everything and builds the resolver.
    ///
    /// ```
    /// let err = tenantpool_actix::resolve::Resolver::builder().subdomain_of("bad domain").build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<Resolver, SetupError> {
        let invalid =
            |setting: &'static str, reason: String| SetupError::Invalid { setting, reason };
        let mut base_domains = Vec::new();
        for base in &self.base_domains {
            let d = host::configured_domain(base)
                .map_err(|e| invalid("resolve.base_domains", format!("{base:?}: {e}")))?;
            base_domains.push(d);
        }
        base_domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
        base_domains.dedup();
        let reserved = self
            .reserved
            .unwrap_or_else(|| vec!["www".into(), "api".into()])
            .into_iter()
            .map(|r| r.trim().to_ascii_lowercase())
            .collect();
        let mut domains = BTreeMap::new();
        for (domain, tenant) in &self.domains {
            let d = host::configured_domain(domain)
                .map_err(|e| invalid("resolve.domains", format!("{domain:?}: {e}")))?;
            let t = TenantId::parse(tenant)
                .map_err(|e| invalid("resolve.domains", format!("{domain:?} = {tenant:?}: {e}")))?;
            domains.insert(d, t);
        }
        let header = self
            .header
            .as_deref()
            .map(|h| {
                HeaderName::from_bytes(h.trim().as_bytes())
                    .map_err(|e| invalid("resolve.header", format!("{h:?}: {e}")))
            })
            .transpose()?;
        let path_prefix = self
            .path_prefix
            .as_deref()
            .map(|p| {
                let ok = p.len() > 1
                    && p.starts_with('/')
                    && !p.ends_with('/')
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
                if ok {
                    Ok(p.to_string())
                } else {
                    Err(invalid(
                        "resolve.path_prefix",
                        format!("{p:?}: use a path like \"/t\" (leading slash, no trailing slash)"),
                    ))
                }
            })
            .transpose()?;
        let mut trusted = Vec::new();
        for raw in &self.trusted {
            let net = raw
                .trim()
                .parse::<IpNet>()
                .or_else(|_| raw.trim().parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "resolve.trusted_proxies",
                        format!("{raw:?} is neither an IP address nor a CIDR"),
                    )
                })?;
            trusted.push(net);
        }
        for path in &self.exempt {
            if !path.starts_with('/') {
                return Err(invalid(
                    "resolve.exempt",
                    format!("{path:?} must start with '/'"),
                ));
            }
        }
        let sources = match &self.explicit_order {
            None => self.order.clone(),
            Some(names) => {
                let mut sources = Vec::new();
                for name in names {
                    let source = match name.as_str() {
                        "subdomain" => Source::Subdomain,
                        "domain" => Source::Domain,
                        "header" => Source::Header,
                        "path" => Source::Path,
                        other => self
                            .order
                            .iter()
                            .find(|s| matches!(s, Source::Custom(n, _) if &**n == other))
                            .cloned()
                            .ok_or_else(|| {
                                invalid(
                                    "resolve.sources",
                                    format!("{other:?} is not subdomain, domain, header, path or a registered closure"),
                                )
                            })?,
                    };
                    sources.push(source);
                }
                for custom in &self.order {
                    if matches!(custom, Source::Custom(..))
                        && !sources.iter().any(|s| s.name() == custom.name())
                    {
                        sources.push(custom.clone());
                    }
                }
                sources
            }
        };
        for source in &sources {
            let configured = match source {
                Source::Subdomain => !base_domains.is_empty(),
                Source::Domain => !domains.is_empty(),
                Source::Header => header.is_some(),
                Source::Path => path_prefix.is_some(),
                Source::Custom(..) => true,
            };
            if !configured {
                return Err(invalid(
                    "resolve.sources",
                    format!("the {} source is listed but not configured", source.name()),
                ));
            }
        }
        Ok(Resolver {
            inner: Arc::new(Inner {
                sources,
                base_domains,
                reserved,
                domains,
                header,
                path_prefix,
                strip_path_prefix: !self.keep_path_prefix,
                trusted,
                exempt: self.exempt,
                required: !self.optional,
            }),
        })
    }
}
