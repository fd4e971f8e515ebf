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

use crate::reply::json_response;

pub use tenantpool_resolve::ReadinessChecks;

/// `GET` answered with the readiness of `checks`' registries; route it at a path of your
/// choice.
///
/// ```
/// use axum::Router;
/// use tenantpool_axum::readiness::{method_router, ReadinessChecks};
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
/// let checks = ReadinessChecks::new().registry(registry);
/// let app: Router = Router::new().route("/readyz", method_router(checks));
/// # }
/// ```
pub fn method_router<S: Clone + Send + Sync + 'static>(checks: ReadinessChecks) -> MethodRouter<S> {
    get(move || async move {
        let reply = checks.reply().await;
        json_response(reply.status, &reply.body, reply.retry_after)
    })
}
