//! Many tenants at once: the budget holds at every sampled instant, idle tenants drain to zero
//! connections with no further traffic, and a stampede on a cold tenant builds one pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantpool::TemplateDirectory;

use crate::common::{self, pg};
use crate::{registry, settings, tenant, text, Pg};

const TENANTS: usize = 200;
const BUDGET: usize = 20;

async fn hammer(
    registry: &tenantpool::Registry<Pg>,
    keys: &[String],
    rounds: usize,
    check_owner: bool,
) {
    let mut tasks = Vec::new();
    for key in keys {
        let registry = registry.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..rounds {
                let mut conn = registry
                    .get(&tenant(&key))
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                if check_owner {
                    let owner = text(&mut conn, "SELECT owner AS value FROM item").await;
                    assert_eq!(owner, key, "tenant {key} read another tenant's row");
                    let schema = text(&mut conn, "SELECT current_schema()::text AS value").await;
                    assert_eq!(schema, key, "tenant {key} ran on another schema");
                } else {
                    text(&mut conn, "SELECT current_database()::text AS value").await;
                }
                drop(conn);
            }
        }));
    }
    for t in tasks {
        t.await.expect("tenant task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_database_tenants_stay_within_budget_and_drain_when_idle() {
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_scale_db";
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("t{i:03}")).collect();
    let dbs: Vec<String> = keys.iter().map(|k| format!("tp_scale_{k}")).collect();
    admin.ensure_databases(&dbs).await;

    let mut s = settings(BUDGET, 3);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600); // drain must come from tenant eviction
    s.pool.checkout_timeout = Duration::from_secs(30);
    let dir = TemplateDirectory::database(&pg::url("tp_scale_{tenant}", app)).expect("template");
    let registry = registry(s, dir);

    let sampler = pg::sampler(app).await;
    let started = Instant::now();
    hammer(&registry, &keys, 3, false).await;
    let busy = started.elapsed();
    let stats = registry.stats();
    let (peak, samples) = sampler.finish().await;

    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(
        peak <= BUDGET as i64,
        "peak {peak} server connections > budget {BUDGET}"
    );
    assert!(peak > 0, "the sampler never saw a connection");
    // Tenants idle longer than the time-to-idle between two of their requests are evicted
    // and started again, so there can be more starts than tenants, never fewer.
    assert!(stats.counters.tenants_started >= TENANTS as u64);
    assert_eq!(stats.counters.checkout_timeouts, 0);

    let idle_since = Instant::now();
    let (left, took) = admin.wait_for_zero(app, Duration::from_secs(30)).await;
    assert_eq!(left, 0, "connections left after the tenants went idle");
    let after = registry.stats();
    assert_eq!(
        after.cached_tenants, 0,
        "tenants still cached after their time-to-idle"
    );
    assert_eq!(
        after.pools.len(),
        0,
        "pools still open after every tenant was evicted"
    );
    eprintln!(
        "FIGURES scale_db: tenants={TENANTS} budget={BUDGET} peak_server_connections={peak} \
         samples={samples} busy={busy:?} idle_to_zero={took:?} (tti=2s, measured from {idle_since:?}) \
         tenants_started={} connections_created={} steals={} handed_off={}",
        stats.counters.tenants_started,
        stats.counters.connections_created, stats.counters.budget_steals, stats.counters.handed_off
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_schema_tenants_share_one_pool_within_budget_and_drain_when_idle() {
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_scale_schema";
    let db = "tp_scale_schemas";
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("s{i:03}")).collect();
    admin.database_with_schemas(db, &keys, app).await;
    admin.wait_for_zero(app, Duration::from_secs(5)).await;

    let mut s = settings(BUDGET, BUDGET);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600);
    s.pool.checkout_timeout = Duration::from_secs(30);
    let dir = TemplateDirectory::schema(&pg::url(db, app), "{tenant}").expect("template");
    let registry = registry(s, dir);

    let sampler = pg::sampler(app).await;
    hammer(&registry, &keys, 3, true).await;
    let stats = registry.stats();
    let (peak, samples) = sampler.finish().await;

    assert!(peak <= BUDGET as i64, "peak {peak} > budget {BUDGET}");
    assert_eq!(
        stats.counters.pools_created, 1,
        "schema tenants must share one pool"
    );
    assert!(stats.counters.tenants_started >= TENANTS as u64);

    let (left, took) = admin.wait_for_zero(app, Duration::from_secs(30)).await;
    assert_eq!(left, 0, "connections left after the tenants went idle");
    eprintln!(
        "FIGURES scale_schema: tenants={TENANTS} budget={BUDGET} peak_server_connections={peak} \
         samples={samples} idle_to_zero={took:?} schema_switches={} checkouts={}",
        stats.counters.schema_switches, stats.counters.checkouts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_on_a_cold_tenant_builds_one_pool_and_at_most_max_size_connections() {
    const MAX: usize = 4;
    let _slots = common::reserve(MAX as u32 + 3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_stampede";
    admin.ensure_databases(&["tp_stampede".to_string()]).await;
    let registry = registry(
        settings(MAX * 2, MAX),
        crate::databases(app, &[("cold", "tp_stampede")]),
    );
    let sampler = pg::sampler(app).await;
    let gate = Arc::new(tokio::sync::Barrier::new(500));
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let registry = registry.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let mut conn = registry.get(&tenant("cold")).await.expect("checkout");
            text(&mut conn, "SELECT 'x' AS value").await;
        }));
    }
    for t in tasks {
        t.await.expect("request");
    }
    let (peak, _) = sampler.finish().await;
    let c = registry.stats().counters;
    assert_eq!(c.pools_created, 1, "pools built");
    assert_eq!(c.tenants_started, 1, "tenant starts");
    assert_eq!(c.directory_lookups, 1, "directory lookups");
    assert!(
        c.connections_created <= MAX as u64,
        "{} connections opened",
        c.connections_created
    );
    assert!(
        peak <= MAX as i64,
        "peak {peak} server connections > max_size {MAX}"
    );
    eprintln!(
        "FIGURES stampede: requests=500 pools_created={} connections_created={} peak_server={peak}",
        c.pools_created, c.connections_created
    );
}
