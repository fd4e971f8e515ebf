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

use crate::response::json_response;

pub use tenantpool_resolve::ReadinessChecks;

/// The actix resource serving `GET {path}` with the readiness of `checks`' registries.
///
/// ```
/// use actix_web::App;
/// use tenantpool_actix::readiness::{resource, ReadinessChecks};
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
/// let checks = ReadinessChecks::new().registry(registry);
/// let app = App::new().service(resource("/readyz", checks));
/// # }
/// ```
pub fn resource(path: &str, checks: ReadinessChecks) -> Resource {
    web::resource(path)
        .app_data(web::Data::new(checks))
        .route(web::get().to(ready))
}

async fn ready(checks: web::Data<ReadinessChecks>) -> HttpResponse {
    let reply = checks.reply().await;
    json_response(reply.status, &reply.body, reply.retry_after)
}
