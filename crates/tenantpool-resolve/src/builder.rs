//! [`ResolverBuilder`]: every knob of a [`Resolver`], set in code or from the `[resolve]`
//! section, validated once in [`build`](ResolverBuilder::build) so that a bad setting fails
//! at startup, never at request time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use tenantpool_core::TenantId;

use crate::config::{default_reserved, ResolveConfig};
use crate::error::ResolveError;
use crate::forwarded::is_tchar;
use crate::host::configured_domain;
use crate::request::RequestView;
use crate::resolved::ResolvedBy;
use crate::resolver::{Inner, Resolver};
use crate::source::{Source, SourceSettings};
use crate::SetupError;

impl Resolver {
    /// An empty builder; sources are asked in the order they are added.
    ///
    /// ```
    /// let resolver = tenantpool_resolve::Resolver::builder().header("X-Tenant-Id").build()?;
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// A resolver made from the `[resolve]` section alone.
    ///
    /// ```
    /// use tenantpool_resolve::{ResolveConfig, Resolver};
    /// let mut cfg = ResolveConfig::default();
    /// cfg.header = Some("X-Tenant-Id".into());
    /// let resolver = Resolver::from_config(&cfg)?;
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn from_config(config: &ResolveConfig) -> Result<Self, SetupError> {
        ResolverBuilder::from_config(config)?.build()
    }
}

/// Builds a [`Resolver`], in code or from a [`ResolveConfig`].
///
/// ```
/// use tenantpool_resolve::{ResolveError, Resolver};
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
/// # Ok::<(), tenantpool_resolve::SetupError>(())
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
    /// use tenantpool_resolve::{ResolveConfig, ResolverBuilder};
    /// let resolver = ResolverBuilder::from_config(&ResolveConfig::default())?
    ///     .custom("demo", |_req| Ok(None))
    ///     .build()?;
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
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
    /// let b = tenantpool_resolve::Resolver::builder().subdomain_of("example.com").subdomain_of("localhost");
    /// ```
    pub fn subdomain_of(mut self, base: &str) -> Self {
        self.base_domains.push(base.to_string());
        self.add(Source::BuiltIn(ResolvedBy::Subdomain));
        self
    }

    /// Subdomains that are never tenants (default `www` and `api`); replaces the list.
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().reserved(["www", "api", "mail"]);
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
    /// let b = tenantpool_resolve::Resolver::builder().domain("notes.acme-corp.com", "acme");
    /// ```
    pub fn domain(mut self, domain: &str, tenant: &str) -> Self {
        self.domains.push((domain.to_string(), tenant.to_string()));
        self.add(Source::BuiltIn(ResolvedBy::Domain));
        self
    }

    /// Reads the tenant from a header.
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().header("X-Tenant-Id");
    /// ```
    pub fn header(mut self, name: &str) -> Self {
        self.header = Some(name.to_string());
        self.add(Source::BuiltIn(ResolvedBy::Header));
        self
    }

    /// Reads the tenant from the path segment after `prefix` (`/t/acme/notes`), and routes the
    /// rest (`/notes`) unless [`keep_path_prefix`](Self::keep_path_prefix) is called.
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().path_prefix("/t");
    /// ```
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self.add(Source::BuiltIn(ResolvedBy::Path));
        self
    }

    /// Keeps the path prefix for routing, for apps that mount their routes under
    /// `web::scope("/t/{tenant}")`.
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().path_prefix("/t").keep_path_prefix();
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
    /// let b = tenantpool_resolve::Resolver::builder().custom("query", |req| {
    ///     let q = req.query_string();
    ///     match q.strip_prefix("tenant=") {
    ///         Some(t) => Ok(TenantId::parse(t).ok()),
    ///         None => Ok(None),
    ///     }
    /// });
    /// ```
    pub fn custom<F>(mut self, name: &str, resolve: F) -> Self
    where
        F: Fn(&dyn RequestView) -> Result<Option<TenantId>, ResolveError> + Send + Sync + 'static,
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
    /// let b = tenantpool_resolve::Resolver::builder().trust_proxy("127.0.0.1").trust_proxy("fd00::/8");
    /// ```
    pub fn trust_proxy(mut self, net: &str) -> Self {
        self.trusted.push(net.to_string());
        self
    }

    /// Lets requests whose path starts with `prefix` (a whole segment) through without a tenant.
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().exempt("/healthz").exempt("/_tenantpool");
    /// ```
    pub fn exempt(mut self, prefix: &str) -> Self {
        self.exempt.push(prefix.to_string());
        self
    }

    /// Lets requests without a tenant through; the extractors refuse them instead (400).
    ///
    /// ```
    /// let b = tenantpool_resolve::Resolver::builder().optional();
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Validates everything and builds the resolver.
    ///
    /// ```
    /// let err = tenantpool_resolve::Resolver::builder().subdomain_of("bad domain").build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<Resolver, SetupError> {
        let settings = self.source_settings()?;
        let trusted = parse_trusted_proxies(&self.trusted)?;
        check_exempt(&self.exempt)?;
        let sources = self.source_order()?;
        check_configured(&sources, &settings)?;
        Ok(Resolver::new(Inner {
            sources,
            settings,
            trusted,
            exempt: self.exempt,
            required: !self.optional,
        }))
    }

    fn source_settings(&self) -> Result<SourceSettings, SetupError> {
        Ok(SourceSettings {
            base_domains: parse_base_domains(&self.base_domains)?,
            reserved: reserved_names(self.reserved.as_deref()),
            domains: parse_domains(&self.domains)?,
            header: self.header.as_deref().map(parse_header).transpose()?,
            path_prefix: self
                .path_prefix
                .as_deref()
                .map(parse_path_prefix)
                .transpose()?,
            strip_path_prefix: !self.keep_path_prefix,
        })
    }

    /// The chain: the `sources` list when one is given (closures it leaves out are asked
    /// last), otherwise the order in which the sources were added.
    fn source_order(&self) -> Result<Vec<Source>, SetupError> {
        let Some(names) = &self.explicit_order else {
            return Ok(self.order.clone());
        };
        let mut sources = names
            .iter()
            .map(|name| self.named_source(name))
            .collect::<Result<Vec<_>, _>>()?;
        for custom in &self.order {
            if matches!(custom, Source::Custom(..))
                && !sources.iter().any(|s| s.name() == custom.name())
            {
                sources.push(custom.clone());
            }
        }
        Ok(sources)
    }

    /// The source an entry of the `sources` list names: built-in first, then a closure.
    fn named_source(&self, name: &str) -> Result<Source, SetupError> {
        if let Some(by) = ResolvedBy::built_in(name) {
            return Ok(Source::BuiltIn(by));
        }
        let closure = self
            .order
            .iter()
            .find(|s| matches!(s, Source::Custom(n, _) if &**n == name));
        match closure {
            Some(source) => Ok(source.clone()),
            None => {
                let built_in: Vec<&str> =
                    ResolvedBy::BUILT_IN.iter().map(ResolvedBy::name).collect();
                Err(invalid(
                    "resolve.sources",
                    format!(
                        "{name:?} is not {} or a registered closure",
                        built_in.join(", ")
                    ),
                ))
            }
        }
    }
}

fn invalid(setting: &'static str, reason: String) -> SetupError {
    SetupError::Invalid { setting, reason }
}

/// Normalised and deduplicated, longest first so that `eu.example.com` wins over
/// `example.com`.
fn parse_base_domains(raw: &[String]) -> Result<Vec<String>, SetupError> {
    let mut base_domains = raw
        .iter()
        .map(|base| {
            configured_domain(base)
                .map_err(|e| invalid("resolve.base_domains", format!("{base:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    base_domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
    base_domains.dedup();
    Ok(base_domains)
}

fn reserved_names(names: Option<&[String]>) -> Vec<String> {
    names
        .map_or_else(default_reserved, <[String]>::to_vec)
        .iter()
        .map(|r| r.trim().to_ascii_lowercase())
        .collect()
}

fn parse_domains(raw: &[(String, String)]) -> Result<BTreeMap<String, TenantId>, SetupError> {
    raw.iter()
        .map(|(domain, tenant)| {
            let d = configured_domain(domain)
                .map_err(|e| invalid("resolve.domains", format!("{domain:?}: {e}")))?;
            let t = TenantId::parse(tenant)
                .map_err(|e| invalid("resolve.domains", format!("{domain:?} = {tenant:?}: {e}")))?;
            Ok((d, t))
        })
        .collect()
}

/// A header name (an RFC 9110 token), in lower case as the header maps look it up.
fn parse_header(raw: &str) -> Result<String, SetupError> {
    let name = raw.trim();
    if !name.is_empty() && name.bytes().all(is_tchar) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(invalid(
            "resolve.header",
            format!("{raw:?}: invalid HTTP header name"),
        ))
    }
}

fn parse_path_prefix(raw: &str) -> Result<String, SetupError> {
    let ok = raw.len() > 1
        && raw.starts_with('/')
        && !raw.ends_with('/')
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(invalid(
            "resolve.path_prefix",
            format!("{raw:?}: use a path like \"/t\" (leading slash, no trailing slash)"),
        ))
    }
}

fn parse_trusted_proxies(nets: &[String]) -> Result<Vec<IpNet>, SetupError> {
    nets.iter()
        .map(|raw| {
            let trimmed = raw.trim();
            trimmed
                .parse::<IpNet>()
                .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "resolve.trusted_proxies",
                        format!("{raw:?} is neither an IP address nor a CIDR"),
                    )
                })
        })
        .collect()
}

fn check_exempt(paths: &[String]) -> Result<(), SetupError> {
    match paths.iter().find(|path| !path.starts_with('/')) {
        Some(path) => Err(invalid(
            "resolve.exempt",
            format!("{path:?} must start with '/'"),
        )),
        None => Ok(()),
    }
}

/// Every source in the chain has its setting: a listed but unconfigured source is a mistake.
fn check_configured(sources: &[Source], settings: &SourceSettings) -> Result<(), SetupError> {
    match sources
        .iter()
        .find(|source| !settings.is_configured(source))
    {
        Some(source) => Err(invalid(
            "resolve.sources",
            format!("the {} source is listed but not configured", source.name()),
        )),
        None => Ok(()),
    }
}
