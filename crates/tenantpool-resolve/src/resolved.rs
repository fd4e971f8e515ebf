//! What resolution yields: the tenant, and which source found it.
//!
//! [`ResolvedBy::name`] is the one place a source's name is spelled: `Display`, the
//! `[resolve] sources` order and the resolver's messages all go through it.

use std::fmt;
use std::sync::Arc;

use tenantpool_core::TenantId;

/// Which source found the tenant.
///
/// ```
/// use tenantpool_resolve::ResolvedBy;
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

impl ResolvedBy {
    /// The built-in sources, in their default order.
    pub(crate) const BUILT_IN: [Self; 4] =
        [Self::Subdomain, Self::Domain, Self::Header, Self::Path];

    /// The source's name in `[resolve] sources`, in logs and in messages.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Subdomain => "subdomain",
            Self::Domain => "domain",
            Self::Header => "header",
            Self::Path => "path",
            Self::Custom(name) => name,
        }
    }

    /// The built-in source called `name`, as `[resolve] sources` lists it.
    pub(crate) fn built_in(name: &str) -> Option<Self> {
        Self::BUILT_IN.into_iter().find(|by| by.name() == name)
    }
}

impl fmt::Display for ResolvedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tenant found in a request.
///
/// ```
/// # fn f(resolver: &tenantpool_resolve::Resolver, req: &tenantpool_resolve::OwnedRequest) -> Result<(), tenantpool_resolve::ResolveError> {
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

impl Resolved {
    /// `tenant`, found by `source`, routed as it is.
    pub(crate) fn new(tenant: TenantId, source: ResolvedBy) -> Self {
        Self {
            tenant,
            source,
            rewritten_path: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_source_is_found_by_its_name() {
        for by in ResolvedBy::BUILT_IN {
            assert_eq!(ResolvedBy::built_in(by.name()), Some(by.clone()));
            assert_eq!(by.to_string(), by.name());
        }
        assert_eq!(ResolvedBy::built_in("cookie"), None);
        assert_eq!(ResolvedBy::Custom("cookie".into()).to_string(), "cookie");
    }
}
