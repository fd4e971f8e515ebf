//! Tenant resolution: which tenant a request is for.
//!
//! The rules live in [`tenantpool_resolve`], shared with the axum adapter; this module
//! re-exports them under their usual names and adds [`ActixRequest`], the view of an actix-web
//! request that the [`Resolver`] reads. See [`tenantpool_resolve`] for the sources, the
//! trusted-proxy rule and the `[resolve]` section.

mod actix_request;

pub use self::actix_request::ActixRequest;
pub use tenantpool_resolve::{
    HeaderValue, Headers, Host, HostName, InvalidHost, NotVisibleAscii, OwnedRequest, RequestView,
    ResolveConfig, ResolveError, Resolved, ResolvedBy, Resolver, ResolverBuilder,
};
