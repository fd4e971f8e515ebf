//! Many tenants at once: the budget holds at every sampled instant, idle tenants drain to zero
//! connections with no further traffic, and a stampede on a cold tenant builds one pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantpool::{Registry, TemplateDirectory};

use super::Dialect;
use crate::common::{databases, registry, settings, tenant, Fixture};
use crate::common::{Count, TestResult, TestServer};

/// Every tenant runs `rounds` requests at once with the others; each request checks that it
/// runs on its own database or schema (asked with `current`) and reads its own row.
async fn hammer<D: Dialect>(
    registry: &Registry<D::Conn>,
    tenants: &[(String, String)],
    current: &'static str,
    rounds: usize,
) {
    let mut tasks = Vec::new();
    for (key, own) in tenants {
        let registry = registry.clone();
        let (key, own) = (key.clone(), own.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let mut conn = registry
                    .get(&tenant(&key))
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                let on = D::text(&mut conn, current).await;
                assert_eq!(
                    on, own,
                    "round {round}: tenant {key} ran on another database"
                );
                let owner = D::text(&mut conn, "SELECT owner AS value FROM item").await;
                assert_eq!(
                    owner, own,
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

/// With no further traffic, every connection leaves the server (within 30 s), no tenant stays
/// cached and no pool stays open; returns the stats and how long the drain took.
async fn drained<D: Dialect>(
    t: &Fixture<D::Server>,
    registry: &Registry<D::Conn>,
) -> Result<(tenantpool::Stats, Duration), tenantpool_testkit::Error> {
    let (left, took) = t.wait_for_zero(Duration::from_secs(30)).await?;
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
        "pools still open after the tenants went idle"
    );
    Ok((after, took))
}

pub async fn many_database_tenants_stay_within_budget_and_drain_when_idle<D: Dialect>() -> TestResult
{
    let (tenants, _) = D::SCALE_TENANTS;
    let budget = D::SCALE_BUDGET;
    let Some(t) = Fixture::<D::Server>::start("tp_scale_db", budget as u32 + 3).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..tenants).map(|i| format!("t{i:03}")).collect();
    let fixture = D::database_tenants(&t, &keys).await?;

    let mut s = settings(budget, 3);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600); // the drain must come from tenant eviction
    s.pool.checkout_timeout = Duration::from_secs(30);
    let dir = TemplateDirectory::database(&fixture.template).expect("template");
    let registry = registry::<D::Conn>(s, dir);

    // Tenants steal each other's idle connections here: closed connections are replaced at
    // once; see `Dialect::budget_count` for the count the budget bounds.
    let sampler = t.sampler(D::budget_count(budget as i64)).await?;
    let started = Instant::now();
    hammer::<D>(&registry, &fixture.tenants, D::CURRENT_DATABASE, 3).await;
    let busy = started.elapsed();
    let stats = registry.stats();
    let seen = sampler.finish().await?;
    let (peak, samples) = (seen.peak, seen.samples);

    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(
        peak <= budget as i64,
        "peak {peak} server connections > budget {budget} (listed peak {})",
        seen.wider_peak
    );
    assert!(peak > 0, "the sampler never saw a connection");
    // Tenants idle longer than the time-to-idle between two of their requests are evicted
    // and started again, so there can be more starts than tenants, never fewer.
    assert!(stats.counters.tenants_started >= tenants as u64);
    assert_eq!(stats.counters.checkout_timeouts, 0);
    assert_eq!(stats.budgets.len(), 1, "one server, one budget");
    assert!(stats.budgets[0].open <= budget);

    let (after, took) = drained::<D>(&t, &registry).await?;
    assert_eq!(after.counters.pools_closed, after.counters.pools_created);
    eprintln!(
        "FIGURES {}scale_db: tenants={tenants} budget={budget} peak_server_connections={peak} \
         listed_peak={} samples={samples} busy={busy:?} idle_to_zero={took:?} (tti=2s) \
         tenants_started={} connections_created={} steals={} handed_off={}",
        D::FIGURES,
        seen.wider_peak,
        stats.counters.tenants_started,
        stats.counters.connections_created,
        stats.counters.budget_steals,
        stats.counters.handed_off
    );
    Ok(())
}

pub async fn many_schema_tenants_share_one_pool_within_budget_and_drain_when_idle<D: Dialect>(
) -> TestResult {
    let (_, tenants) = D::SCALE_TENANTS;
    let budget = D::SCALE_BUDGET;
    let Some(t) = Fixture::<D::Server>::start("tp_scale_schema", budget as u32 + 3).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..tenants).map(|i| format!("s{i:03}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let schemas = D::schemas(&t, "tp_scale_schemas", &keys).await?;

    let mut s = settings(budget, budget);
    s.cache.time_to_idle = Duration::from_secs(2);
    s.pool.idle_timeout = Duration::from_secs(600);
    s.pool.checkout_timeout = Duration::from_secs(30);
    let registry = registry::<D::Conn>(s, schemas.template());

    let sampler = t.sampler(Count::Tagged).await?;
    hammer::<D>(&registry, &schemas.tenants, D::CURRENT_SCHEMA, 3).await;
    let stats = registry.stats();
    let seen = sampler.finish().await?;
    let (peak, samples) = (seen.peak, seen.samples);

    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(
        peak <= budget as i64,
        "peak {peak} server connections > budget {budget}"
    );
    assert!(peak > 0, "the sampler never saw a connection");
    assert_eq!(
        stats.counters.pools_created, 1,
        "schema tenants must share one pool"
    );
    assert!(stats.counters.tenants_started >= tenants as u64);
    assert_eq!(stats.counters.checkout_timeouts, 0);

    let (after, took) = drained::<D>(&t, &registry).await?;
    assert_eq!(after.counters.pools_closed, 1);
    eprintln!(
        "FIGURES {}scale_schema: tenants={tenants} budget={budget} \
         peak_server_connections={peak} samples={samples} idle_to_zero={took:?} (tti=2s) \
         schema_switches={} checkouts={} connections_created={}",
        D::FIGURES,
        stats.counters.schema_switches,
        stats.counters.checkouts,
        stats.counters.connections_created
    );
    Ok(())
}

pub async fn a_stampede_on_a_cold_tenant_builds_one_pool_and_at_most_max_size_connections<
    D: Dialect,
>() -> TestResult {
    const MAX: usize = 4;
    const REQUESTS: usize = 500;
    let Some(t) = Fixture::<D::Server>::start("tp_stampede", MAX as u32 + 3).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_stampede").await?;
    let registry = registry::<D::Conn>(
        settings(MAX * 2, MAX),
        databases(&t, &[("cold", db.name())]),
    );
    let sampler = t.sampler(Count::Tagged).await?;
    let gate = Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let mut tasks = Vec::new();
    for _ in 0..REQUESTS {
        let registry = registry.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let mut conn = registry.get(&tenant("cold")).await.expect("checkout");
            D::text(&mut conn, "SELECT 'x' AS value").await;
        }));
    }
    for t in tasks {
        t.await.expect("request");
    }
    let peak = sampler.finish().await?.peak;
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
    assert!(t.count().await? <= MAX as i64);
    eprintln!(
        "FIGURES {}stampede: requests={REQUESTS} pools_created={} connections_created={} \
         peak_server={peak}",
        D::FIGURES,
        c.pools_created,
        c.connections_created
    );
    Ok(())
}
