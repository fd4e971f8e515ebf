//! A connection held too long is reported inside its request's span: the warning line that
//! `tracing_subscriber::fmt` writes carries the root span's route, method and tenant. Its own
//! test binary, because it installs a global subscriber (the warning comes from the
//! registry's maintenance task, on the I/O runtime's threads, which a subscriber set for one
//! thread would not see).

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantConn, TenantRegistry, TenantRootSpan};
use tenantpool_core::{
    DatabaseUrl, Registry, Settings, SqliteConnection, StaticDirectory, TenantId, TenantTarget,
};
use tracing_actix_web::TracingLogger;

use tenantpool_testkit::capture_logs;

use common::{get, unique, wait_for};

/// The held-too-long lines captured so far (installs the capture on first use).
fn held_lines() -> Vec<String> {
    capture_logs(&["tenantpool_core::held"])
        .expect("this binary installs the only global subscriber")
        .lines_containing("tenantpool_core::held")
}

/// Holds its connection for a second: several ticks past the threshold.
async fn slow(conn: TenantConn<SqliteConnection>) -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(conn);
    HttpResponse::Ok().body("done")
}

#[actix_web::test]
async fn a_connection_held_too_long_is_reported_with_its_request_route() {
    // The testkit's capture renders every span, so the event shows its span's fields.
    held_lines();

    let dir = std::env::temp_dir().join(unique("tpa_held"));
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
    let r = registry.clone();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(r.clone()))
            .wrap(ResolveTenant::new(resolver.clone()))
            .wrap(TracingLogger::<TenantRootSpan>::new())
            .route("/reports/{id}/slow", web::get().to(slow))
    });

    let (status, _, body) = get(addr, "/reports/7/slow", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body.as_str()), (200, "done"));
    let r = registry.clone();
    wait_for(
        "the held_too_long counter",
        Duration::from_secs(5),
        move || r.stats().counters.held_too_long == 1,
    )
    .await;

    let lines = held_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains("WARN"), "{line}");
    // The root span's fields: the route pattern, the method and the resolved tenant.
    assert!(line.contains("http.route=/reports/{id}/slow"), "{line}");
    assert!(line.contains("http.method=GET"), "{line}");
    assert!(line.contains("tenant=acme"), "{line}");
    assert!(line.contains("held="), "{line}");
    registry.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}
