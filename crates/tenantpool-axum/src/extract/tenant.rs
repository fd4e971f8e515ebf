//! The [`Tenant`] extractor: the tenant the [`TenantLayer`](crate::TenantLayer) left in the
//! request extensions.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use tenantpool_core::TenantId;
use tenantpool_resolve::ResolvedBy;

use crate::extract::rejection::TenantRejection;

/// The tenant of the request, as resolved by the [`TenantLayer`](crate::TenantLayer).
///
/// A handler that serves requests with and without a tenant takes `Option<Tenant>`: `None`
/// where the layer ran and found no tenant (an exempt path, an optional resolver); still a
/// 500 where the layer did not run at all, which is a setup mistake.
///
/// ```
/// use tenantpool_axum::Tenant;
///
/// async fn whoami(tenant: Tenant) -> String {
///     format!("{} (from the {})", tenant, tenant.source())
/// }
///
/// async fn greet(tenant: Option<Tenant>) -> String {
///     tenant.map_or_else(|| "hello".into(), |t| format!("hello, {t}"))
/// }
/// let app: axum::Router = axum::Router::new()
///     .route("/whoami", axum::routing::get(whoami))
///     .route("/greet", axum::routing::get(greet));
/// ```
#[derive(Debug, Clone)]
pub struct Tenant {
    id: TenantId,
    source: ResolvedBy,
}

impl Tenant {
    /// A tenant resolved by `source`. [`TenantLayer`](crate::TenantLayer) hands it to the
    /// extractors; middleware of an application's own may insert one as a request extension
    /// instead.
    ///
    /// ```
    /// use tenantpool_axum::{resolve::ResolvedBy, Tenant};
    /// let t = Tenant::new("acme".parse()?, ResolvedBy::Header);
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn new(id: TenantId, source: ResolvedBy) -> Self {
        Self { id, source }
    }

    /// The tenant key.
    ///
    /// ```
    /// # let t = tenantpool_axum::Tenant::new("acme".parse()?, tenantpool_axum::resolve::ResolvedBy::Header);
    /// assert_eq!(t.id().as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant key as a string.
    ///
    /// ```
    /// # let t = tenantpool_axum::Tenant::new("acme".parse()?, tenantpool_axum::resolve::ResolvedBy::Header);
    /// assert_eq!(t.as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }

    /// The source that found it.
    ///
    /// ```
    /// # let t = tenantpool_axum::Tenant::new("acme".parse()?, tenantpool_axum::resolve::ResolvedBy::Header);
    /// assert_eq!(t.source().to_string(), "header");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn source(&self) -> &ResolvedBy {
        &self.source
    }

    /// The tenant key, by value.
    ///
    /// ```
    /// # let t = tenantpool_axum::Tenant::new("acme".parse()?, tenantpool_axum::resolve::ResolvedBy::Header);
    /// let id: tenantpool_core::TenantId = t.into_id();
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn into_id(self) -> TenantId {
        self.id
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_extensions(&parts.extensions).cloned()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match Self::from_extensions(&parts.extensions) {
            Ok(tenant) => Ok(Some(tenant.clone())),
            Err(TenantRejection::Missing) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
