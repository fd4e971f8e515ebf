//! The request span carries the tenant: declared empty by `TenantMakeSpan` (tower-http's
//! `TraceLayer`), recorded by `TenantLayer`. Its own test binary, because it installs a
//! global subscriber.

mod common;

use std::sync::{Arc, Mutex};

use axum::routing::get as route_get;
use axum::Router;
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{Tenant, TenantLayer, TenantMakeSpan};
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Remembers every value recorded into a span field named `tenant`, and how many request
/// spans declared the field.
#[derive(Clone, Default)]
struct TenantFields {
    declared: Arc<Mutex<usize>>,
    recorded: Arc<Mutex<Vec<String>>>,
}

struct Grab<'a>(&'a mut Option<String>);

impl Visit for Grab<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "tenant" {
            *self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "tenant" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for TenantFields {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let fields = attrs.metadata().fields();
        if fields.field("tenant").is_some() && fields.field("method").is_some() {
            *self.declared.lock().unwrap() += 1;
        }
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut found = None;
        values.record(&mut Grab(&mut found));
        if let Some(tenant) = found {
            self.recorded.lock().unwrap().push(tenant);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_span_records_the_resolved_tenant() {
    let fields = TenantFields::default();
    tracing_subscriber::registry().with(fields.clone()).init();

    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/healthz")
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/whoami",
            route_get(|t: Tenant| async move { t.to_string() }),
        )
        .route("/healthz", route_get(|| async { "ok" }));
    let app = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http().make_span_with(TenantMakeSpan))
        .layer(TenantLayer::new(resolver))
        .service(router);
    let server = common::serve(app).await;
    let reply = common::get(server.addr, "/whoami", &[("X-Tenant-Id", "Acme")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "acme"));
    let reply = common::get(server.addr, "/healthz", &[]).await;
    assert_eq!(reply.status, 200);
    server.stop().await;

    assert_eq!(*fields.recorded.lock().unwrap(), vec!["acme".to_string()]);
    assert!(
        *fields.declared.lock().unwrap() >= 2,
        "request spans must declare `tenant`"
    );
}
