//! The [`TenantRegistry`] extension and extractor: which registry a route's connections come
//! from, selected by connection type and [`Role`].

use std::any::type_name;
use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Extensions;
use tenantpool_core::{Backend, Registry};
use tenantpool_resolve::{Primary, Role};

use crate::extract::rejection::MissingRegistry;
use crate::extract::request_tenant::RequestTenant;

/// A registry of connection type `C` in the role `R`, for the extractors: hand it to the
/// [`TenantLayer`](crate::TenantLayer) with [`TenantLayer::registry`](crate::TenantLayer::registry)
/// (or add it with `Router::layer(Extension(...))` where no tenant layer runs);
/// [`TenantConn<C, R>`](crate::TenantConn) checks out of it. Several registries of the same
/// connection type are told apart by their role (a primary and a replica, say).
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use axum::{routing::get, Router};
/// use diesel_async::AsyncPgConnection;
/// use tenantpool_axum::{resolve::Resolver, Replica, TenantConn, TenantLayer, TenantRegistry};
/// use tenantpool_core::Registry;
/// use tower::Layer;
///
/// async fn read(conn: TenantConn<AsyncPgConnection, Replica>) -> String { conn.tenant().to_string() }
/// async fn write(conn: TenantConn<AsyncPgConnection>) -> String { conn.tenant().to_string() }
///
/// fn app(primary: Registry<AsyncPgConnection>, replica: Registry<AsyncPgConnection>, resolver: Resolver) {
///     let router: Router = Router::new()
///         .route("/read", get(read))
///         .route("/write", get(write));
///     let app = TenantLayer::new(resolver)
///         .registry(TenantRegistry::new(primary))
///         .registry(TenantRegistry::<_, Replica>::with_role(replica))
///         .layer(router);
///     # let _ = app;
/// }
/// ```
pub struct TenantRegistry<C: Backend, R: Role = Primary> {
    registry: Registry<C>,
    _role: PhantomData<fn() -> R>,
}

impl<C: Backend> TenantRegistry<C, Primary> {
    /// The primary registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
    /// let ext = axum::Extension(tenantpool_axum::TenantRegistry::new(registry));
    /// # }
    /// ```
    pub fn new(registry: Registry<C>) -> Self {
        Self::with_role(registry)
    }
}

impl<C: Backend, R: Role> TenantRegistry<C, R> {
    /// The registry in role `R`.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
    /// let ext = tenantpool_axum::TenantRegistry::<C, tenantpool_axum::Replica>::with_role(registry);
    /// # }
    /// ```
    pub fn with_role(registry: Registry<C>) -> Self {
        Self {
            registry,
            _role: PhantomData,
        }
    }

    /// The core registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_axum::TenantRegistry<C>) {
    /// let stats = r.registry().stats();
    /// # }
    /// ```
    pub fn registry(&self) -> &Registry<C> {
        &self.registry
    }

    /// Unwraps the core registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_axum::TenantRegistry<C>) {
    /// let registry: tenantpool_core::Registry<C> = r.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> Registry<C> {
        self.registry
    }

    /// The registry the request's extensions hold.
    pub(crate) fn from_extensions(ext: &Extensions) -> Result<&Self, MissingRegistry> {
        RequestTenant::of(ext)
            .and_then(|found| found.registries.get::<C, R>())
            .or_else(|| ext.get::<Self>())
            .ok_or_else(|| MissingRegistry::new(type_name::<Self>(), type_name::<C>(), R::NAME))
    }
}

impl<C: Backend, R: Role> Clone for TenantRegistry<C, R> {
    fn clone(&self) -> Self {
        Self::with_role(self.registry.clone())
    }
}

impl<C: Backend, R: Role> std::fmt::Debug for TenantRegistry<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRegistry")
            .field("role", &R::NAME)
            .field("registry", &self.registry)
            .finish()
    }
}

impl<C: Backend, R: Role> Deref for TenantRegistry<C, R> {
    type Target = Registry<C>;

    fn deref(&self) -> &Registry<C> {
        &self.registry
    }
}

impl<C: Backend, R: Role, S: Send + Sync> FromRequestParts<S> for TenantRegistry<C, R> {
    type Rejection = MissingRegistry;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_extensions(&parts.extensions).cloned()
    }
}
