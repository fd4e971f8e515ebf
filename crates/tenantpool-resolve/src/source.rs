//! The sources of tenant resolution, and how each one finds a tenant in a request.
//!
//! A source answers "found", "not here" (`Ok(None)`: the next source is asked) or
//! "malformed" (`Err`: the request is refused and no further source is asked).

use std::collections::BTreeMap;
use std::sync::Arc;

use tenantpool_core::{InvalidTenantId, TenantId};

use crate::error::ResolveError;
use crate::host::HostRef;
use crate::request::RequestView;
use crate::request_host::HostOnce;
use crate::resolved::{Resolved, ResolvedBy};

/// An application closure: `Ok(Some(tenant))` found, `Ok(None)` not here, `Err` refuse.
pub(crate) type CustomFn =
    dyn Fn(&dyn RequestView) -> Result<Option<TenantId>, ResolveError> + Send + Sync;

/// One source of the resolver's chain.
#[derive(Clone)]
pub(crate) enum Source {
    /// One of [`ResolvedBy::BUILT_IN`]; never [`ResolvedBy::Custom`].
    BuiltIn(ResolvedBy),
    /// An application closure, and the name it was registered with.
    Custom(Arc<str>, Arc<CustomFn>),
}

impl Source {
    /// The name in `[resolve] sources`: a built-in name, or the closure's.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::BuiltIn(by) => by.name(),
            Self::Custom(name, _) => name,
        }
    }

    /// Asks this source about `req`.
    pub(crate) fn find<R: RequestView>(
        &self,
        settings: &SourceSettings,
        req: &R,
        host: &mut HostOnce<'_, R>,
    ) -> Result<Option<Resolved>, ResolveError> {
        let by = match self {
            Self::BuiltIn(by) => by,
            Self::Custom(name, resolve) => {
                let found = resolve(req)?;
                return Ok(
                    found.map(|tenant| Resolved::new(tenant, ResolvedBy::Custom(name.clone())))
                );
            }
        };
        let tenant = match by {
            ResolvedBy::Subdomain => match host.get()? {
                Some(host) => settings.by_subdomain(host)?,
                None => None,
            },
            ResolvedBy::Domain => host.get()?.and_then(|host| settings.by_domain(host)),
            ResolvedBy::Header => settings.by_header(req)?,
            ResolvedBy::Path => return settings.by_path(req),
            // A closure is always a `Source::Custom`.
            ResolvedBy::Custom(_) => None,
        };
        Ok(tenant.map(|tenant| Resolved::new(tenant, by.clone())))
    }
}

/// The validated settings the built-in sources read.
pub(crate) struct SourceSettings {
    /// Longest first, so that `eu.example.com` wins over `example.com`.
    pub(crate) base_domains: Vec<String>,
    pub(crate) reserved: Vec<String>,
    pub(crate) domains: BTreeMap<String, TenantId>,
    /// The tenant header's name, in lower case.
    pub(crate) header: Option<String>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) strip_path_prefix: bool,
}

impl SourceSettings {
    /// Whether `source` has what it needs to run: a source listed in `[resolve] sources`
    /// without its setting is a configuration mistake.
    pub(crate) fn is_configured(&self, source: &Source) -> bool {
        match source {
            Source::BuiltIn(ResolvedBy::Subdomain) => !self.base_domains.is_empty(),
            Source::BuiltIn(ResolvedBy::Domain) => !self.domains.is_empty(),
            Source::BuiltIn(ResolvedBy::Header) => self.header.is_some(),
            Source::BuiltIn(ResolvedBy::Path) => self.path_prefix.is_some(),
            Source::BuiltIn(ResolvedBy::Custom(_)) | Source::Custom(..) => true,
        }
    }

    fn by_subdomain(&self, host: &HostRef<'_>) -> Result<Option<TenantId>, ResolveError> {
        let Some(name) = host.domain() else {
            return Ok(None);
        };
        for base in &self.base_domains {
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
            if self.reserved.iter().any(|r| r == label) {
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

    fn by_domain(&self, host: &HostRef<'_>) -> Option<TenantId> {
        host.domain()
            .and_then(|name| self.domains.get(name))
            .cloned()
    }

    fn by_header<R: RequestView>(&self, req: &R) -> Result<Option<TenantId>, ResolveError> {
        let Some(name) = &self.header else {
            return Ok(None);
        };
        let Some(value) = req
            .single_header(name)
            .map_err(|_| ResolveError::RepeatedHeader {
                header: name.clone(),
            })?
        else {
            return Ok(None);
        };
        let invalid = |reason| ResolveError::InvalidTenant {
            origin: ResolvedBy::Header,
            reason,
        };
        let raw = std::str::from_utf8(value).map_err(|_| {
            invalid(InvalidTenantId::InvalidCharacter {
                found: char::REPLACEMENT_CHARACTER,
                position: 0,
            })
        })?;
        TenantId::parse(raw.trim_matches([' ', '\t']))
            .map(Some)
            .map_err(invalid)
    }

    /// The tenant after the path prefix, with the path to route instead when stripping.
    fn by_path<R: RequestView>(&self, req: &R) -> Result<Option<Resolved>, ResolveError> {
        let Some(prefix) = &self.path_prefix else {
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
        let rewritten_path = self.strip_path_prefix.then(|| match req.query() {
            Some(query) => format!("{tail}?{query}"),
            None => tail.to_string(),
        });
        Ok(Some(Resolved {
            rewritten_path,
            ..Resolved::new(tenant, ResolvedBy::Path)
        }))
    }
}
