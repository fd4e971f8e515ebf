//! The readiness endpoint: 200 while every registry can serve, 503 with the reasons and
//! `Retry-After` otherwise, for a load balancer to ask (see
//! [`tenantpool_core::Registry::readiness`] for what is checked, and
//! [`tenantpool_resolve::ReadinessReply`] for the reply).
//!
//! It takes no token, by design: the body names database servers (`scheme://host:port`) and
//! what is wrong with them in general terms, never a password, a database, a tenant or a
//! driver's message. Mount it at the path of your choice, outside the tenant resolution (or
//! list its path in `resolve.exempt`): readiness belongs to no tenant. Liveness is another
//! route (`/healthz`): a process whose database is down is alive but not ready.
//!
//! ```json
//! {"ready": false,
//!  "servers": [{"server": "postgres://db:5432", "ready": false, "last_accepted_ms_ago": 41250,
//!               "exhausted_ms": null, "open": 0, "limit": 80, "probe": "failed"}],
//!  "reasons": [{"server": "postgres://db:5432", "cause": "no_recent_connection", "for_ms": 41250,
//!               "message": "postgres://db:5432: no connection accepted for 41 s: connection refused"}]}
//! ```

use actix_web::{web, HttpResponse, Resource};
use tenantpool_core::{Backend, Registry};
use tenantpool_resolve::ReadinessChecks;

use crate::response::json_response;

/// The readiness endpoint: the registries it reports on.
///
/// ```
/// use actix_web::App;
/// use tenantpool_actix::readiness::ReadinessCheck;
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
/// let ready = ReadinessCheck::new().registry(registry);
/// let app = App::new().service(ready.resource("/readyz"));
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
    /// let ready = tenantpool_actix::readiness::ReadinessCheck::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports on `registry` too: ready only when every registry is.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_core::Registry<C>) {
    /// let ready = tenantpool_actix::readiness::ReadinessCheck::new().registry(r);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, registry: Registry<C>) -> Self {
        self.checks = self.checks.registry(registry);
        self
    }

    /// The actix resource serving `GET {path}`.
    ///
    /// ```
    /// let resource = tenantpool_actix::readiness::ReadinessCheck::new().resource("/readyz");
    /// ```
    pub fn resource(&self, path: &str) -> Resource {
        web::resource(path)
            .app_data(web::Data::new(self.clone()))
            .route(web::get().to(ready))
    }
}

async fn ready(check: web::Data<ReadinessCheck>) -> HttpResponse {
    let reply = check.checks.reply().await;
    json_response(reply.status, &reply.body, reply.retry_after)
}
