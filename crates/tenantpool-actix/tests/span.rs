//! The root span carries the tenant: declared empty by `TenantRootSpan`, recorded by the
//! middleware. Its own test binary, because it installs a global subscriber.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, Tenant, TenantRootSpan};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_actix_web::TracingLogger;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Remembers every value recorded into a span field named `tenant`, and whether root spans
/// declared the field.
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
        if attrs.metadata().fields().field("tenant").is_some()
            && attrs.metadata().fields().field("http.method").is_some()
        {
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

#[actix_web::test]
async fn the_root_span_records_the_resolved_tenant() {
    let fields = TenantFields::default();
    tracing_subscriber::registry().with(fields.clone()).init();

    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/healthz")
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .wrap(ResolveTenant::new(resolver.clone()))
            .wrap(TracingLogger::<TenantRootSpan>::new())
            .route(
                "/whoami",
                web::get().to(|t: Tenant| async move { t.to_string() }),
            )
            .route("/healthz", web::get().to(HttpResponse::Ok))
    });
    let (status, _, body) = common::get(addr, "/whoami", &[("X-Tenant-Id", "Acme")]).await;
    assert_eq!((status, body.as_str()), (200, "acme"));
    let (status, _, _) = common::get(addr, "/healthz", &[]).await;
    assert_eq!(status, 200);

    assert_eq!(*fields.recorded.lock().unwrap(), vec!["acme".to_string()]);
    assert!(
        *fields.declared.lock().unwrap() >= 2,
        "root spans must declare `tenant`"
    );
}
