//! The per-server budget: steals from idle pools, hands returned connections to waiting
//! creators, and fails with a typed error only after the checkout timeout.

use std::time::Duration;

use tenantpool::Error;

use crate::common::{
    databases, hold, one_tenant, registry, settings, tenant, two_tenants, wait_until, Fixture,
};
use crate::common::{TestResult, TestServer};
use crate::twins::twins;
use crate::{backend_pid, text, Pg, Postgres};
use tenantpool_testkit::PgServer;

twins!(Postgres, budget, threads = 2:
    a_full_budget_of_idle_connections_makes_room_by_stealing_not_by_timeout,
    connections_returned_to_pools_nobody_waits_on_pass_their_permit_to_a_waiting_tenant,
    a_budget_held_by_busy_connections_fails_the_checkout_with_exhausted_after_the_timeout,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_waiting_on_the_budget_gets_a_connection_returned_to_its_own_pool() -> TestResult
{
    const BUDGET: usize = 2;
    let Some(t) = Fixture::<PgServer>::start("tp_own_pool_wait", BUDGET as u32 + 2).await? else {
        return Ok(());
    };
    let mut s = settings(BUDGET, BUDGET * 2);
    s.pool.checkout_timeout = Duration::from_secs(5);
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_own_pool_wait", "a", s).await?;
    let mut held = hold(&registry, "a", BUDGET).await;
    // A third checkout of the same tenant has a free pool slot but no budget: it waits in
    // the budget as a creator.
    let r = registry.clone();
    let third = tokio::spawn(async move { r.get(&tenant("a")).await.map(drop) });
    wait_until(
        Duration::from_secs(5),
        || async { registry.stats().budgets[0].waiting },
        |w| *w > 0,
    )
    .await;
    // One connection comes back to the pool while that creator waits.
    held.pop();
    third
        .await
        .expect("task")
        .expect("the waiting creator must not time out");
    assert_eq!(registry.stats().counters.checkout_timeouts, 0);
    assert!(t.count().await? <= BUDGET as i64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_pressure_a_tenant_wanting_a_second_connection_never_takes_another_tenants_only_one(
) -> TestResult {
    const BUDGET: usize = 2;
    let Some(t) = Fixture::<PgServer>::start("tp_keep_last", BUDGET as u32 + 2).await? else {
        return Ok(());
    };
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    s.budget.warm_steal_after = Duration::from_secs(60);
    let (dbs, registry) = two_tenants::<Pg, _>(&t, "tp_keep_last", s).await?;
    let b = dbs.name("b");
    let a = registry.get(&tenant("a")).await.expect("a");
    let b1 = registry.get(&tenant("b")).await.expect("b");
    // b wants a second connection: the budget is full, so it waits.
    let r = registry.clone();
    let b2 = tokio::spawn(async move {
        let mut c = r.get(&tenant("b")).await?;
        Ok::<_, Error>(text(&mut c, "SELECT current_database()::text AS value").await)
    });
    wait_until(
        Duration::from_secs(5),
        || async { registry.stats().budgets[0].waiting },
        |w| *w > 0,
    )
    .await;
    // a's only connection goes idle: a keeps it, b does not get it.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!b2.is_finished(), "b took a's only connection");
    let c = registry.stats().counters;
    assert_eq!(c.handed_off, 0);
    assert_eq!(c.budget_steals, 0);
    assert_eq!(t.count().await?, 2);
    // b's own connection comes back: its waiting checkout takes it, no new connect.
    drop(b1);
    let got = b2.await.expect("task").expect("b's second checkout");
    assert_eq!(got, b);
    assert_eq!(registry.stats().counters.connections_created, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steal_takes_the_idle_connection_of_the_least_busy_tenant_not_merely_the_oldest(
) -> TestResult {
    const BUDGET: usize = 2;
    let Some(t) = Fixture::<PgServer>::start("tp_steal_heat", BUDGET as u32 + 2).await? else {
        return Ok(());
    };
    let family = t
        .server
        .throwaway_databases("tp_heat", &["hot", "cool", "new"])
        .await?;
    let dbs = [family.name("hot"), family.name("cool"), family.name("new")];
    let mut s = settings(BUDGET, 1);
    // No maintenance pass during the test: the heat stays as the test made it.
    s.cache.maintenance_interval = Duration::from_secs(3600);
    let registry = registry::<Pg>(
        s,
        databases(&t, &[("hot", &dbs[0]), ("cool", &dbs[1]), ("new", &dbs[2])]),
    );
    // `hot` is busy, and its idle connection is the older one.
    for _ in 0..20 {
        drop(registry.get(&tenant("hot")).await.expect("hot"));
    }
    let mut h = registry.get(&tenant("hot")).await.expect("hot");
    let hot_pid = backend_pid(&mut h).await;
    drop(h);
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(registry.get(&tenant("cool")).await.expect("cool"));
    // A third tenant needs a connection: the budget is full of idle ones.
    let mut n = registry.get(&tenant("new")).await.expect("new");
    assert_eq!(
        text(&mut n, "SELECT current_database()::text AS value").await,
        dbs[2]
    );
    assert_eq!(registry.stats().counters.budget_steals, 1);
    drop(n);
    let mut h = registry.get(&tenant("hot")).await.expect("hot again");
    assert_eq!(
        backend_pid(&mut h).await,
        hot_pid,
        "the busy tenant's connection was stolen"
    );
    Ok(())
}
