//! What production does to a pool layer, at the core level: floods of unknown tenants, a dead
//! server next to a live one, and long interleaved runs of schema tenants. Sizes scale up with
//! `TENANTPOOL_FULL=1` (see docs/reliability.md).

use std::time::{Duration, Instant};

use tenantpool::{DatabaseUrl, Error, StaticDirectory, TemplateDirectory, TenantTarget};
use tenantpool_testkit::{HangingServer, PgServer};

use crate::common::{registry, settings, tenant, Fixture, TestResult, TestServer};
use crate::{text, Pg};

fn full() -> bool {
    std::env::var("TENANTPOOL_FULL").is_ok_and(|v| v == "1")
}

fn random_key(i: u64) -> String {
    // A cheap deterministic scramble: distinct, valid, unpredictable-looking keys.
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_5A5A_DEAD_BEEF;
    format!("r{x:016x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_tenants_is_answered_unknown_without_a_lookup_each() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_flood_listed", 3).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_flood").await?;
    let url = DatabaseUrl::parse(&t.url(db.name())).expect("url");
    let dir = StaticDirectory::new().with(tenant("real"), TenantTarget::database(url));
    let registry = registry::<Pg>(settings(2, 1), dir);
    let n: u64 = if full() { 100_000 } else { 20_000 };
    let started = Instant::now();
    for i in 0..n {
        let err = registry
            .get(&tenant(&random_key(i)))
            .await
            .expect_err("random keys are unknown");
        assert!(matches!(err, Error::UnknownTenant { .. }), "{err:?}");
    }
    let took = started.elapsed();
    // The real tenant still works in the middle of the flood.
    let mut c = registry.get(&tenant("real")).await.expect("real tenant");
    assert_eq!(text(&mut c, "SELECT 'ok' AS value").await, "ok");
    registry.run_maintenance();
    let stats = registry.stats();
    let c = &stats.counters;
    assert_eq!(c.directory_lookups, 1, "only the real tenant was looked up");
    let max_lists = took.as_secs() + 2;
    assert!(
        c.directory_lists <= max_lists,
        "{} list calls in {took:?}",
        c.directory_lists
    );
    assert_eq!(c.unknown_rejected, n);
    assert_eq!(stats.cached_tenants, 1, "unknown keys were cached");
    assert_eq!(stats.pools.len(), 1);
    eprintln!(
        "FIGURES flood_listed: keys={n} took={took:?} directory_lookups={} directory_lists={}",
        c.directory_lookups, c.directory_lists
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_tenants_on_an_unlisted_template_is_rate_limited_and_bounded(
) -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_flood_template", 4).await? else {
        return Ok(());
    };
    let mut s = settings(3, 1);
    s.backoff.unlisted_starts_per_second = 50;
    s.backoff.max_failed_tenants = 500;
    let dir = TemplateDirectory::database(&t.url("tp_flood_{tenant}")).expect("template");
    let registry = registry::<Pg>(s, dir);
    let n: u64 = if full() { 100_000 } else { 20_000 };
    let (mut missing, mut throttled) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..n {
        match registry.get(&tenant(&random_key(i))).await {
            Err(Error::DatabaseMissing { .. }) => missing += 1,
            Err(e @ Error::Throttled { .. }) => {
                assert_eq!(e.kind().http_status(), 503);
                assert!(e.retry_after() >= Some(Duration::from_secs(1)), "{e:?}");
                throttled += 1;
            }
            other => panic!("unexpected answer for a random key: {other:?}"),
        }
    }
    let took = started.elapsed();
    registry.run_maintenance();
    let stats = registry.stats();
    let c = &stats.counters;
    // Every start that reached the directory cost at most one connect attempt, and starts
    // were admitted at the configured rate (burst 50, then 50 per second).
    let allowed = 50 + 50 * (took.as_secs_f64().ceil() as u64 + 1);
    assert!(
        c.directory_lookups <= allowed,
        "{} lookups in {took:?}",
        c.directory_lookups
    );
    assert_eq!(missing, c.directory_lookups);
    assert_eq!(missing + throttled, n);
    assert!(stats.pools.is_empty(), "pools left open by failed starts");
    assert_eq!(stats.cached_tenants, 0);
    assert_eq!(t.count().await?, 0);
    eprintln!(
        "FIGURES flood_template: keys={n} took={took:?} lookups={} connect_attempts={} throttled={throttled}",
        c.directory_lookups,
        c.connections_created + c.connect_failures
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_does_not_hold_up_tenants_on_other_servers() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_degrade", 5).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_degrade").await?;
    let hole = HangingServer::start().await?;
    let dir = StaticDirectory::new()
        .with(
            tenant("lit"),
            TenantTarget::database(DatabaseUrl::parse(&t.url(db.name())).expect("url")),
        )
        .with(
            tenant("dark"),
            TenantTarget::database(
                DatabaseUrl::parse(&format!("postgres://postgres@{}/x", hole.addr())).expect("url"),
            ),
        );
    let mut s = settings(3, 3);
    s.pool.connect_timeout = Duration::from_secs(3);
    s.pool.checkout_timeout = Duration::from_secs(5);
    let registry = registry::<Pg>(s, dir);

    let mut dark = Vec::new();
    for _ in 0..20 {
        let r = registry.clone();
        dark.push(tokio::spawn(async move {
            r.get(&tenant("dark")).await.map(drop)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While every dark request hangs in its connect, the lit tenant serves normally.
    for _ in 0..200 {
        let mut c = registry.get(&tenant("lit")).await.expect("lit tenant");
        assert_eq!(text(&mut c, "SELECT 'lit' AS value").await, "lit");
    }
    let still_hanging = dark.iter().filter(|t| !t.is_finished()).count();
    assert!(
        still_hanging > 0,
        "the dark requests did not hang; the test proves nothing"
    );
    for t in dark {
        let err = t.await.expect("task").expect_err("dark server");
        assert_eq!(err.kind().http_status(), 503, "{err:?}");
    }
    drop(hole);
    eprintln!("FIGURES degrade: lit_requests=200 served while {still_hanging} dark requests hung");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_interleaved_run_never_answers_a_tenant_from_another_schema() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_schema_long", 9).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..50).map(|i| format!("long{i:02}")).collect();
    let schemas: Vec<&str> = keys.iter().map(String::as_str).collect();
    let db = crate::database_with_schemas(&t.server, "tp_schema_long", &schemas).await?;
    let dir = TemplateDirectory::schema(&t.url(db.name()), "{tenant}").expect("template");
    let registry = registry::<Pg>(settings(6, 6), dir);
    let total: usize = if full() { 100_000 } else { 10_000 };
    let workers = 24;
    let per_worker = total / workers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let registry = registry.clone();
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_worker {
                let key = &keys[(w * 7 + i * 13) % keys.len()];
                let mut conn = registry.get(&tenant(key)).await.expect("checkout");
                let row = text(
                    &mut conn,
                    "SELECT current_setting('search_path') || '|' || (SELECT owner FROM item) AS value",
                )
                .await;
                assert_eq!(row, format!("{key}|{key}"), "request {i} of worker {w}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let took = started.elapsed();
    let c = registry.stats().counters;
    eprintln!(
        "FIGURES schema_long: requests={} took={took:?} schema_switches={} tenants=50",
        workers * per_worker,
        c.schema_switches
    );
    Ok(())
}
