//! A connection held too long is reported inside its request's span: the warning line that
//! `tracing_subscriber::fmt` writes carries the `request` span's method, URI and tenant. Its
//! own test binary, because it installs a global subscriber (the warning comes from the
//! registry's maintenance task, on the I/O runtime's threads, which a subscriber set for one
//! thread would not see).

mod common;

use std::time::Duration;

use axum::routing::get as route_get;
use axum::{Extension, Router};
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{TenantConn, TenantLayer, TenantMakeSpan, TenantRegistry};
use tenantpool_core::{
    DatabaseUrl, Registry, Settings, SqliteConnection, StaticDirectory, TenantId, TenantTarget,
};
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use tenantpool_testkit::capture_logs;

use common::{get, serve, unique, wait_for};

/// The held-too-long lines captured so far (installs the capture on first use).
fn held_lines() -> Vec<String> {
    capture_logs(&["tenantpool_core::held"])
        .expect("this binary installs the only global subscriber")
        .lines_containing("tenantpool_core::held")
}

/// Holds its connection for a second: several ticks past the threshold.
async fn slow(conn: TenantConn<SqliteConnection>) -> &'static str {
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(conn);
    "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_held_too_long_is_reported_with_its_request_uri() {
    // The testkit's capture renders every span, so the event shows its span's fields.
    held_lines();

    let dir = std::env::temp_dir().join(unique("tpx_held"));
    let url = DatabaseUrl::parse(&format!("sqlite://{}/acme.db", dir.display())).unwrap();
    let settings = Settings::from_toml_str(
        "[pool]\nleak_warning_after = \"300ms\"\n[cache]\nmaintenance_interval = \"100ms\"",
    )
    .unwrap();
    let registry = Registry::<SqliteConnection>::builder(settings)
        .directory(StaticDirectory::new().with(
            TenantId::parse("acme").unwrap(),
            TenantTarget::database(url).creating_missing(),
        ))
        .build()
        .unwrap();
    let resolver = Resolver::builder().header("X-Tenant-Id").build().unwrap();
    let router = Router::new()
        .route("/reports/{id}/slow", route_get(slow))
        .layer(Extension(TenantRegistry::new(registry.clone())));
    let app = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http().make_span_with(TenantMakeSpan))
        .layer(TenantLayer::new(resolver))
        .service(router);
    let server = serve(app).await;

    let reply = get(server.addr, "/reports/7/slow", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "done"));
    let r = registry.clone();
    wait_for(
        "the held_too_long counter",
        Duration::from_secs(5),
        move || r.stats().counters.held_too_long == 1,
    )
    .await;
    server.stop().await;

    let lines = held_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains("WARN"), "{line}");
    // The request span's fields: the method, the URI and the resolved tenant.
    assert!(
        line.contains("request{method=GET uri=/reports/7/slow"),
        "{line}"
    );
    assert!(line.contains("tenant=acme"), "{line}");
    assert!(line.contains("held="), "{line}");
    registry.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}
