//! Known traffic on PostgreSQL, then a scrape: exact counter deltas, gauges equal to what
//! the server shows for the test's tag, histogram counts that match the events.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tenantpool::directory::PoolOverrides;
use tenantpool::{DatabaseUrl, Error, StaticDirectory, TenantTarget};
use tenantpool_testkit::{PgServer, TestServer};

use crate::common::{registry, settings, tenant, Fixture, TestResult};
use crate::{admin, recorder, scrape, serial};

/// The checkout timeout of the tenant, short so that the forced timeout is quick.
const SHORT: Duration = Duration::from_millis(200);

#[actix_rt::test]
async fn a_scrape_counts_checkouts_a_timeout_and_the_connections_the_server_shows() -> TestResult {
    let _serial = serial().await;
    recorder();
    let Some(t) = Fixture::<PgServer>::start("tp_metrics", 4).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_metrics").await?;
    let url = DatabaseUrl::parse(&t.url(db.name())).expect("url");
    let overrides = PoolOverrides {
        max_size: Some(2),
        checkout_timeout: Some(SHORT),
        ..PoolOverrides::default()
    };
    let directory = StaticDirectory::new().with(
        tenant("mpa"),
        TenantTarget::database(url).with_overrides(overrides),
    );
    let r = registry::<AsyncPgConnection>(settings(3, 2), directory);
    let admin = admin("pg_traffic", r.clone());
    let reg = ("registry", "pg_traffic");

    let server = url_server(&t.url(db.name()));
    let srv = [("server", server.as_str()), ("backend", "postgres")];
    let before = scrape(&admin).await;
    let hist = |s: &crate::Scrape, name: &str| s.value(&format!("{name}_count"), &srv);

    // Five checkouts one after another: the first starts the tenant (one connect), every one
    // is served from the idle connection.
    for _ in 0..5 {
        drop(r.get(&tenant("mpa")).await.expect("checkout"));
    }
    // Two held (the second opens a connection), a third times out.
    let held = (
        r.get(&tenant("mpa")).await.expect("first held"),
        r.get(&tenant("mpa")).await.expect("second held"),
    );
    assert!(matches!(
        r.get(&tenant("mpa")).await,
        Err(Error::Exhausted { .. })
    ));

    let during = scrape(&admin).await;
    let counter = |s: &crate::Scrape, name: &str| s.value(name, &[reg]);
    assert_eq!(counter(&during, "tenantpool_checkouts_total"), 7.0);
    assert_eq!(counter(&during, "tenantpool_checkout_timeouts_total"), 1.0);
    assert_eq!(counter(&during, "tenantpool_connections_opened_total"), 2.0);
    assert_eq!(counter(&during, "tenantpool_directory_lookups_total"), 1.0);
    assert_eq!(counter(&during, "tenantpool_cached_tenants"), 1.0);
    assert_eq!(
        during.value(
            "tenantpool_tenant_starts_total",
            &[reg, ("outcome", "started")]
        ),
        1.0
    );
    // Connections open on the server: the gauge, the stats and PostgreSQL agree.
    let on_server = t.count().await?;
    assert_eq!(on_server, 2, "sessions of the test's tag");
    let gauge = |s: &crate::Scrape, name: &str| s.value(name, &[reg, srv[0]]);
    assert_eq!(
        gauge(&during, "tenantpool_server_connections_open"),
        on_server as f64
    );
    assert_eq!(gauge(&during, "tenantpool_server_connections_budget"), 3.0);
    assert_eq!(gauge(&during, "tenantpool_connections_in_use"), 2.0);
    assert_eq!(gauge(&during, "tenantpool_connections_idle"), 0.0);
    assert_eq!(gauge(&during, "tenantpool_pools"), 1.0);
    let mpa = [reg, ("tenant", "mpa")];
    assert_eq!(
        during.value("tenantpool_tenant_connections_in_use", &mpa),
        2.0
    );
    assert_eq!(
        during.value("tenantpool_tenant_checkout_timeouts", &mpa),
        1.0
    );
    let other = [reg, ("tenant", "_other")];
    assert_eq!(
        during.value("tenantpool_tenant_connections_in_use", &other),
        0.0
    );
    // Histograms: 8 checkouts ended (7 served, 1 timed out), 2 connects, 6 returns so far
    // (the 5 checkouts and the start's own first one).
    let delta = |name: &str| hist(&during, name) - hist(&before, name);
    assert_eq!(delta("tenantpool_checkout_wait_seconds"), 8.0);
    assert_eq!(delta("tenantpool_connect_seconds"), 2.0);
    assert_eq!(delta("tenantpool_connection_held_seconds"), 6.0);
    // The timed-out checkout waited at least the timeout.
    let waited = during.value("tenantpool_checkout_wait_seconds_sum", &srv)
        - before.value("tenantpool_checkout_wait_seconds_sum", &srv);
    assert!(waited >= SHORT.as_secs_f64(), "waited {waited}s in all");

    drop(held);
    let after = scrape(&admin).await;
    assert_eq!(gauge(&after, "tenantpool_connections_in_use"), 0.0);
    assert_eq!(gauge(&after, "tenantpool_connections_idle"), 2.0);
    assert_eq!(
        after.value("tenantpool_tenant_connections_in_use", &mpa),
        0.0
    );
    assert_eq!(
        hist(&after, "tenantpool_connection_held_seconds")
            - hist(&before, "tenantpool_connection_held_seconds"),
        8.0
    );
    // Counters do not move without traffic.
    assert_eq!(counter(&after, "tenantpool_checkouts_total"), 7.0);

    // Shutdown closes both connections with their pool.
    assert!(r.shutdown(Duration::from_secs(5)).await.clean);
    t.assert_no_connections(Duration::from_secs(5)).await?;
    let closed = scrape(&admin).await;
    assert_eq!(
        closed.value(
            "tenantpool_connections_closed_total",
            &[reg, ("reason", "pool_closed")]
        ),
        2.0
    );
    assert_eq!(
        closed.value(
            "tenantpool_connections_closed_total",
            &[reg, ("reason", "idle")]
        ),
        0.0
    );
    Ok(())
}

/// The server key (budget) of a PostgreSQL URL.
fn url_server(url: &str) -> String {
    DatabaseUrl::parse(url)
        .expect("url")
        .server()
        .as_str()
        .to_owned()
}
