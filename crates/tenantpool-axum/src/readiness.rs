//! The readiness endpoint as a [`MethodRouter`] to route at the path of your choice: 200
//! while every registry can serve, 503 with the reasons and `Retry-After` otherwise, for a
//! load balancer to ask (see [`tenantpool_core::Registry::readiness`] for what is checked,
//! and [`tenantpool_resolve::ReadinessReply`] for the reply; the actix adapter answers the
//! same).
//!
//! It takes no token, by design: the body names database servers (`scheme://host:port`) and
//! what is wrong with them in general terms, never a password, a database, a tenant or a
//! driver's message. Route it outside the tenant resolution, or list its path in
//! `resolve.exempt`: readiness belongs to no tenant. Liveness is another route (`/healthz`):
//! a process whose database is down is alive but not ready.

use axum::routing::{get, MethodRouter};
use tenantpool_core::{Backend, Registry};
use tenantpool_resolve::ReadinessChecks;

use crate::reply::json_response;

/// The readiness endpoint: the registries it reports on.
///
/// ```
/// use axum::Router;
/// use tenantpool_axum::readiness::ReadinessCheck;
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
/// let ready = ReadinessCheck::new().registry(registry);
/// let app: Router = Router::new().route("/readyz", ready.method_router());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReadinessCheck {
    checks: ReadinessChecks,
}

impl ReadinessCheck {
    /// An endpoint with no registry yet (always ready).
    ///
    /// ```
    /// let ready = tenantpool_axum::readiness::ReadinessCheck::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports on `registry` too: ready only when every registry is.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_core::Registry<C>) {
    /// let ready = tenantpool_axum::readiness::ReadinessCheck::new().registry(r);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, registry: Registry<C>) -> Self {
        self.checks = self.checks.registry(registry);
        self
    }

    /// `GET` answered with the readiness reply; route it at a path of your choice.
    ///
    /// ```
    /// let ready = tenantpool_axum::readiness::ReadinessCheck::new();
    /// let app: axum::Router = axum::Router::new().route("/readyz", ready.method_router());
    /// ```
    pub fn method_router<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let checks = self.checks.clone();
        get(move || async move {
            let reply = checks.reply().await;
            json_response(reply.status, &reply.body, reply.retry_after)
        })
    }
}
