//! The [`Tenant`] extractor: the tenant the [`ResolveTenant`](crate::ResolveTenant)
//! middleware left in the request extensions.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tenantpool_core::TenantId;

use crate::extract::rejection::TenantRejection;
use crate::resolve::ResolvedBy;

/// The tenant of the request, as resolved by the [`ResolveTenant`](crate::ResolveTenant)
/// middleware.
///
/// A handler that serves requests with and without a tenant takes `Option<Tenant>` (actix-web
/// extracts `None` wherever `Tenant` would be refused with a [`TenantRejection`]).
///
/// ```
/// use actix_web::{get, HttpResponse};
/// use tenantpool_actix::Tenant;
///
/// #[get("/whoami")]
/// async fn whoami(tenant: Tenant) -> HttpResponse {
///     HttpResponse::Ok().body(format!("{} (from the {})", tenant, tenant.source()))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Tenant {
    id: TenantId,
    source: ResolvedBy,
}

impl Tenant {
    /// A tenant resolved by `source`; the middleware inserts it into the request extensions.
    ///
    /// ```
    /// use tenantpool_actix::{resolve::ResolvedBy, Tenant};
    /// let t = Tenant::new("acme".parse()?, ResolvedBy::Header);
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn new(id: TenantId, source: ResolvedBy) -> Self {
        Self { id, source }
    }

    /// The tenant key.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.id().as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant key as a string.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }

    /// The source that found it.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.source().to_string(), "header");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn source(&self) -> &ResolvedBy {
        &self.source
    }

    /// The tenant key, by value.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// let id: tenantpool_core::TenantId = t.into_id();
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn into_id(self) -> TenantId {
        self.id
    }

    /// The tenant the middleware left in the extensions; [`TenantConn`](crate::TenantConn)
    /// starts from it too.
    pub(crate) fn from_extensions(req: &HttpRequest) -> Result<Self, TenantRejection> {
        let ext = req.extensions();
        if let Some(tenant) = ext.get::<Tenant>() {
            return Ok(tenant.clone());
        }
        if ext.get::<NoTenant>().is_some() {
            Err(TenantRejection::Missing)
        } else {
            Err(TenantRejection::NotResolved)
        }
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id.as_str())
    }
}

impl FromRequest for Tenant {
    type Error = TenantRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_extensions(req))
    }
}

/// Left in the extensions by a middleware that ran but found no tenant (optional mode, or an
/// exempt path), so that the extractors can tell "no tenant" (400) from "no middleware" (500).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoTenant;
