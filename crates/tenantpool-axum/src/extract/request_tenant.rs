//! [`RequestTenant`]: the one extension [`TenantLayer`](crate::TenantLayer) inserts into
//! each request: the resolved tenant (none on exempt paths, or when resolution is optional
//! and found nothing) and the registries the layer was given.

use axum::http::Extensions;

use crate::extract::rejection::TenantRejection;
use crate::extract::tenant::Tenant;
use crate::registries::Registries;

/// What the layer found for one request.
#[derive(Clone)]
pub(crate) struct RequestTenant {
    /// `None`: the request needs no tenant (exempt path) or has none (optional resolution).
    pub(crate) tenant: Option<Tenant>,
    pub(crate) registries: Registries,
}

impl RequestTenant {
    /// What the layer left in `ext`, if a layer ran.
    pub(crate) fn of(ext: &Extensions) -> Option<&Self> {
        ext.get::<Self>()
    }
}

impl Tenant {
    /// The tenant the layer resolved (or middleware of the application inserted as a
    /// `Tenant` extension).
    pub(crate) fn from_extensions(ext: &Extensions) -> Result<&Self, TenantRejection> {
        if let Some(found) = RequestTenant::of(ext) {
            return found.tenant.as_ref().ok_or(TenantRejection::Missing);
        }
        ext.get::<Tenant>().ok_or(TenantRejection::NotResolved)
    }
}
