//! Many tenants at once: the budget holds at every sampled instant, idle tenants drain to zero
//! connections with no further traffic, and a stampede on a cold tenant builds one pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantpool::TemplateDirectory;

use crate::common::{self, my};
use crate::{registry, settings, tenant, text, My};

const BUDGET: usize = 12;

/// Every tenant runs `rounds` requests at once with the others; each request checks that it
/// is on its own database and reads its own row.
async fn hammer(registry: &tenantpool::Registry<My>, keys: &[(String, String)], rounds: usize) {
    let mut tasks = Vec::new();
    for (key, db) in keys {
        let registry = registry.clone();
        let (key, db) = (key.clone(), db.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let mut conn = registry
                    .get(&tenant(&key))
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                let current = text(&mut conn, "SELECT DATABASE() AS value").await;
                assert_eq!(
                    current, db,
                    "round {round}: tenant {key} ran on another database"
                );
                let owner = text(&mut conn, "SELECT owner AS value FROM item").await;
                assert_eq!(
                    owner, db,
                    "round {round}: tenant {key} read another tenant's row"
                );
                drop(conn);
            }
        }));
    }
    for t in tasks {
        t.await.expect("tenant task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eighty_database_tenants_stay_within_budget_and_drain_when_idle() {
    const TENANTS: usize = 80;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_scale_db";
    admin.user(user).await;
    let keys: Vec<(String, String)> = (0..TENANTS)
        .map(|i| (format!("t{i:03}"), format!("tp_mscale_t{i:03}")))
        .collect();
    let dbs: Vec<String> = keys.iter().map(|(_, db)| db.clone()).collect();
    admin.databases_with_items(&dbs).await;

    let mut s = settings(BUDGET, 3);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600); // the drain must come from tenant eviction
    s.pool.checkout_timeout = Duration::from_secs(30);
    let dir =
        TemplateDirectory::database(&my::url(user, Some("tp_mscale_{tenant}"))).expect("template");
    let registry = registry(s, dir);

    // Tenants steal each other's idle connections here: closed connections are replaced at
    // once, so the count that must stay within the budget is the sessions this process still
    // holds (the raw count also lists sessions whose close the server has not processed yet).
    let sampler = my::held_sampler(user, BUDGET as i64).await;
    let raw = my::sampler(user).await;
    let started = Instant::now();
    hammer(&registry, &keys, 3).await;
    let busy = started.elapsed();
    let stats = registry.stats();
    let (peak, samples) = sampler.finish().await;
    let (raw_peak, _) = raw.finish().await;

    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(
        peak <= BUDGET as i64,
        "peak {peak} server connections held open > budget {BUDGET} (raw peak {raw_peak})"
    );
    assert!(peak > 0, "the sampler never saw a connection");
    assert!(stats.counters.tenants_started >= TENANTS as u64);
    assert_eq!(stats.counters.checkout_timeouts, 0);
    assert_eq!(stats.budgets.len(), 1, "one server, one budget");
    assert!(stats.budgets[0].open <= BUDGET);

    let (left, took) = admin.wait_for_zero(user, Duration::from_secs(30)).await;
    assert_eq!(
        left, 0,
        "connections left on the server after the tenants went idle"
    );
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
    assert_eq!(after.counters.pools_closed, after.counters.pools_created);
    eprintln!(
        "FIGURES mysql_scale_db: tenants={TENANTS} budget={BUDGET} peak_server_connections={peak} \
         raw_peak={raw_peak} samples={samples} busy={busy:?} idle_to_zero={took:?} (tti=2s) \
         tenants_started={} connections_created={} steals={} handed_off={}",
        stats.counters.tenants_started,
        stats.counters.connections_created,
        stats.counters.budget_steals,
        stats.counters.handed_off
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_schema_tenants_share_one_pool_within_budget_and_drain_when_idle() {
    const TENANTS: usize = 100;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_scale_schema";
    admin.user(user).await;
    // On MySQL a "schema" is a database: one per tenant, all on one server, reached through
    // one shared pool whose connections switch with `USE`.
    let keys: Vec<(String, String)> = (0..TENANTS)
        .map(|i| (format!("s{i:03}"), format!("tp_msch_s{i:03}")))
        .collect();
    let dbs: Vec<String> = keys.iter().map(|(_, db)| db.clone()).collect();
    admin.databases_with_items(&dbs).await;

    let mut s = settings(BUDGET, BUDGET);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600);
    s.pool.checkout_timeout = Duration::from_secs(30);
    let dir =
        TemplateDirectory::schema(&my::url(user, None), "tp_msch_{tenant}").expect("template");
    let registry = registry(s, dir);

    let sampler = my::sampler(user).await;
    hammer(&registry, &keys, 3).await;
    let stats = registry.stats();
    let (peak, samples) = sampler.finish().await;

    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(
        peak <= BUDGET as i64,
        "peak {peak} server connections > budget {BUDGET}"
    );
    assert!(peak > 0, "the sampler never saw a connection");
    assert_eq!(
        stats.counters.pools_created, 1,
        "schema tenants must share one pool"
    );
    assert!(stats.counters.tenants_started >= TENANTS as u64);
    assert_eq!(stats.counters.checkout_timeouts, 0);

    let (left, took) = admin.wait_for_zero(user, Duration::from_secs(30)).await;
    assert_eq!(
        left, 0,
        "connections left on the server after the tenants went idle"
    );
    let after = registry.stats();
    assert_eq!(
        after.cached_tenants, 0,
        "tenants still cached after their time-to-idle"
    );
    assert_eq!(after.pools.len(), 0, "the shared pool is still open");
    assert_eq!(after.counters.pools_closed, 1);
    eprintln!(
        "FIGURES mysql_scale_schema: tenants={TENANTS} budget={BUDGET} \
         peak_server_connections={peak} samples={samples} idle_to_zero={took:?} (tti=2s) \
         schema_switches={} checkouts={} connections_created={}",
        stats.counters.schema_switches,
        stats.counters.checkouts,
        stats.counters.connections_created
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_on_a_cold_tenant_builds_one_pool_and_at_most_max_size_connections() {
    const MAX: usize = 4;
    const REQUESTS: usize = 500;
    let _slots = common::reserve(MAX as u32 + 3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_stampede";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_stampede".to_string()])
        .await;
    let registry = registry(
        settings(MAX * 2, MAX),
        crate::databases(user, &[("cold", "tp_stampede")]),
    );
    let sampler = my::sampler(user).await;
    let gate = Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let mut tasks = Vec::new();
    for _ in 0..REQUESTS {
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
    assert_eq!(c.checkouts, REQUESTS as u64, "checkouts");
    assert!(
        c.connections_created <= MAX as u64,
        "{} connections opened",
        c.connections_created
    );
    assert!(
        peak <= MAX as i64,
        "peak {peak} server connections > max_size {MAX}"
    );
    assert!(admin.count(user).await <= MAX as i64);
    eprintln!(
        "FIGURES mysql_stampede: requests={REQUESTS} pools_created={} connections_created={} \
         peak_server={peak}",
        c.pools_created, c.connections_created
    );
}
