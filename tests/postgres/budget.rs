//! The per-server budget: steals from idle pools, hands returned connections to waiting
//! creators, and fails with a typed error only after the checkout timeout.

use std::time::Duration;

use tenantpool::Error;

use crate::common::{self, pg};
use crate::{databases, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_of_idle_connections_makes_room_by_stealing_not_by_timeout() {
    const BUDGET: usize = 4;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_steal";
    admin
        .ensure_databases(&["tp_steal_a".to_string(), "tp_steal_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    s.pool.idle_timeout = Duration::from_secs(600);
    let registry = registry(
        s,
        databases(app, &[("a", "tp_steal_a"), ("b", "tp_steal_b")]),
    );

    // Tenant a fills the whole budget, then goes idle: four idle connections, budget full.
    let held: Vec<_> = crate::hold(&registry, "a", BUDGET).await;
    drop(held);
    assert_eq!(admin.count(app).await, BUDGET as i64);
    assert_eq!(registry.stats().budgets[0].open, BUDGET);

    let sampler = pg::sampler(app).await;
    let mut b = registry
        .get(&tenant("b"))
        .await
        .expect("b must get a connection by steal");
    assert_eq!(
        text(&mut b, "SELECT current_database()::text AS value").await,
        "tp_steal_b"
    );
    let (peak, _) = sampler.finish().await;
    let c = registry.stats().counters;
    assert!(c.budget_steals >= 1, "no steal happened");
    assert_eq!(
        c.checkout_timeouts, 0,
        "b waited for the timeout instead of stealing"
    );
    assert!(peak <= BUDGET as i64, "peak {peak} > budget {BUDGET}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_returned_to_pools_nobody_waits_on_pass_their_permit_to_a_waiting_tenant() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_handoff";
    admin
        .ensure_databases(&["tp_handoff_a".to_string(), "tp_handoff_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    // No steal retries during the test: the permit must come from the hand-off.
    s.budget.steal_retry = Duration::from_secs(60);
    let registry = registry(
        s,
        databases(app, &[("a", "tp_handoff_a"), ("b", "tp_handoff_b")]),
    );

    // Every permit is held by a connection in use.
    let held: Vec<_> = crate::hold(&registry, "a", BUDGET).await;
    let r = registry.clone();
    let waiter = tokio::spawn(async move {
        let mut c = r.get(&tenant("b")).await?;
        Ok::<_, Error>(text(&mut c, "SELECT current_database()::text AS value").await)
    });
    common::wait_until(
        Duration::from_secs(5),
        || async { registry.stats().budgets[0].waiting },
        |w| *w > 0,
    )
    .await;
    // They are returned to a pool nobody waits on: one is closed so that b can open one.
    drop(held);
    let got = waiter
        .await
        .expect("waiter task")
        .expect("b must get the handed-off permit");
    assert_eq!(got, "tp_handoff_b");
    let c = registry.stats().counters;
    assert!(c.handed_off >= 1, "no connection was handed off");
    assert_eq!(c.checkout_timeouts, 0);
    assert!(admin.count(app).await <= BUDGET as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_held_by_busy_connections_fails_the_checkout_with_exhausted_after_the_timeout() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 2).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_exhausted";
    admin
        .ensure_databases(&["tp_exhausted_a".to_string(), "tp_exhausted_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let registry = registry(
        s,
        databases(app, &[("a", "tp_exhausted_a"), ("b", "tp_exhausted_b")]),
    );
    let _held: Vec<_> = crate::hold(&registry, "a", BUDGET).await;
    let err = registry
        .get(&tenant("b"))
        .await
        .expect_err("budget is exhausted");
    assert!(matches!(err, Error::Exhausted { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 503);
    assert!(err.retry_after().is_some());
    assert_eq!(
        registry.stats().budgets[0].waiting,
        0,
        "a timed-out waiter still counts"
    );
    assert_eq!(admin.count(app).await, BUDGET as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_waiting_on_the_budget_gets_a_connection_returned_to_its_own_pool() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 2).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_own_pool_wait";
    admin
        .ensure_databases(&["tp_own_pool_wait".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET * 2);
    s.pool.checkout_timeout = Duration::from_secs(5);
    let registry = registry(s, databases(app, &[("a", "tp_own_pool_wait")]));
    let mut held = crate::hold(&registry, "a", BUDGET).await;
    // A third checkout of the same tenant has a free pool slot but no budget: it waits in
    // the budget as a creator.
    let r = registry.clone();
    let third = tokio::spawn(async move { r.get(&tenant("a")).await.map(drop) });
    common::wait_until(
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
    assert!(admin.count(app).await <= BUDGET as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_pressure_a_tenant_wanting_a_second_connection_never_takes_another_tenants_only_one()
{
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 2).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_keep_last";
    admin
        .ensure_databases(&["tp_keep_last_a".to_string(), "tp_keep_last_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    s.budget.warm_steal_after = Duration::from_secs(60);
    let registry = registry(
        s,
        databases(app, &[("a", "tp_keep_last_a"), ("b", "tp_keep_last_b")]),
    );
    let a = registry.get(&tenant("a")).await.expect("a");
    let b1 = registry.get(&tenant("b")).await.expect("b");
    // b wants a second connection: the budget is full, so it waits.
    let r = registry.clone();
    let b2 = tokio::spawn(async move {
        let mut c = r.get(&tenant("b")).await?;
        Ok::<_, Error>(text(&mut c, "SELECT current_database()::text AS value").await)
    });
    common::wait_until(
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
    assert_eq!(admin.count(app).await, 2);
    // b's own connection comes back: its waiting checkout takes it, no new connect.
    drop(b1);
    let got = b2.await.expect("task").expect("b's second checkout");
    assert_eq!(got, "tp_keep_last_b");
    assert_eq!(registry.stats().counters.connections_created, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steal_takes_the_idle_connection_of_the_least_busy_tenant_not_merely_the_oldest() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 2).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_steal_heat";
    let dbs = ["tp_heat_hot", "tp_heat_cool", "tp_heat_new"];
    admin
        .ensure_databases(&dbs.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .await;
    let mut s = settings(BUDGET, 1);
    // No maintenance pass during the test: the heat stays as the test made it.
    s.cache.maintenance_interval = Duration::from_secs(3600);
    let registry = registry(
        s,
        databases(app, &[("hot", dbs[0]), ("cool", dbs[1]), ("new", dbs[2])]),
    );
    // `hot` is busy, and its idle connection is the older one.
    for _ in 0..20 {
        drop(registry.get(&tenant("hot")).await.expect("hot"));
    }
    let mut h = registry.get(&tenant("hot")).await.expect("hot");
    let hot_pid = crate::backend_pid(&mut h).await;
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
        crate::backend_pid(&mut h).await,
        hot_pid,
        "the busy tenant's connection was stolen"
    );
}
