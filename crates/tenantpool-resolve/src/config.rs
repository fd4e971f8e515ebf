//! The `[resolve]` section of the configuration: what an operator can set without code, and
//! how it is read. Validation happens when a [`Resolver`](crate::Resolver) is built
//! from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
/// use tenantpool_resolve::ResolveConfig;
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
    /// name of a closure registered with
    /// [`ResolverBuilder::custom`](crate::ResolverBuilder::custom). Default: every
    /// configured source in that order, closures last.
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
            reserved: default_reserved(),
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
    /// let resolve = tenantpool_resolve::ResolveConfig::from_config(&cfg)?;
    /// assert!(resolve.required);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        SetupError::load_section(config, "resolve")
    }
}

/// Subdomains that are never tenants unless configured otherwise.
pub(crate) fn default_reserved() -> Vec<String> {
    vec!["www".into(), "api".into()]
}
