//! The [`TenantRegistry`] app data and extractor: which registry a route's connections come
//! from, selected by connection type and [`Role`].

use std::any::type_name;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use tenantpool_core::{Backend, Registry};

use crate::extract::rejection::MissingRegistry;
use tenantpool_resolve::{Primary, Role};

/// The registry of connection type `C` in role `R`, as app data and as an extractor.
///
/// Register one per connection type and role with `App::app_data`; the
/// [`TenantConn`](crate::TenantConn) extractor of the same `C` and `R` finds it there. Build
/// the registry once, outside the `HttpServer::new` closure, and clone it in: every worker
/// must share it.
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use actix_web::{web, App, HttpServer};
/// use diesel_async::AsyncPgConnection;
/// use tenantpool_actix::{Replica, TenantRegistry};
/// use tenantpool_core::{Registry, Settings};
///
/// # async fn run(primary: Registry<AsyncPgConnection>, replica: Registry<AsyncPgConnection>) -> std::io::Result<()> {
/// HttpServer::new(move || {
///     App::new()
///         .app_data(TenantRegistry::<AsyncPgConnection>::new(primary.clone()))
///         .app_data(TenantRegistry::<AsyncPgConnection, Replica>::with_role(replica.clone()))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
pub struct TenantRegistry<C: Backend, R: Role = Primary> {
    registry: Registry<C>,
    _role: PhantomData<fn() -> R>,
}

impl<C: Backend> TenantRegistry<C, Primary> {
    /// Wraps the [`Primary`] registry of connection type `C`.
    ///
    /// ```
    /// use tenantpool_actix::TenantRegistry;
    /// use tenantpool_core::{Backend, Registry};
    /// fn wrap<C: Backend>(registry: Registry<C>) -> TenantRegistry<C> {
    ///     TenantRegistry::new(registry)
    /// }
    /// ```
    pub fn new(registry: Registry<C>) -> Self {
        Self::with_role(registry)
    }
}

impl<C: Backend, R: Role> TenantRegistry<C, R> {
    /// Wraps a registry for role `R`.
    ///
    /// ```
    /// use tenantpool_actix::{Replica, TenantRegistry};
    /// use tenantpool_core::{Backend, Registry};
    /// fn wrap<C: Backend>(registry: Registry<C>) -> TenantRegistry<C, Replica> {
    ///     TenantRegistry::with_role(registry)
    /// }
    /// ```
    pub fn with_role(registry: Registry<C>) -> Self {
        Self {
            registry,
            _role: PhantomData,
        }
    }

    /// The registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_actix::TenantRegistry<C>) {
    /// let stats = r.registry().stats();
    /// # }
    /// ```
    pub fn registry(&self) -> &Registry<C> {
        &self.registry
    }

    /// Unwraps the registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_actix::TenantRegistry<C>) {
    /// let registry = r.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> Registry<C> {
        self.registry
    }

    /// The registry the app registered for `C` and `R`; [`TenantConn`](crate::TenantConn)
    /// checks out from it.
    pub(crate) fn from_app_data(req: &HttpRequest) -> Result<Self, MissingRegistry> {
        req.app_data::<Self>()
            .cloned()
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

impl<C: Backend, R: Role> FromRequest for TenantRegistry<C, R> {
    type Error = MissingRegistry;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_app_data(req))
    }
}
