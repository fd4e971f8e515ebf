//! The per-server budget: steals from idle pools, hands returned connections to waiting
//! creators, and fails with a typed error only after the checkout timeout.

use std::time::Duration;

use tenantpool::Error;

use super::Dialect;
use crate::common::TestResult;
use crate::common::{hold, settings, tenant, two_tenants, wait_until, Fixture};

pub async fn a_full_budget_of_idle_connections_makes_room_by_stealing_not_by_timeout<D: Dialect>(
) -> TestResult {
    const BUDGET: usize = 4;
    let Some(t) = Fixture::<D::Server>::start("tp_steal", BUDGET as u32 + 3).await? else {
        return Ok(());
    };
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    s.pool.idle_timeout = Duration::from_secs(600);
    let (dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_steal", s).await?;
    let b = dbs.name("b");

    // Tenant a fills the whole budget, then goes idle: four idle connections, budget full.
    let held = hold(&registry, "a", BUDGET).await;
    drop(held);
    assert_eq!(t.count().await?, BUDGET as i64);
    assert_eq!(registry.stats().budgets[0].open, BUDGET);

    // The steal closes one of a's connections and opens one for b: count what the budget
    // bounds (see `Dialect::budget_count`).
    let sampler = t.sampler(D::budget_count(BUDGET as i64)).await?;
    let mut conn = registry
        .get(&tenant("b"))
        .await
        .expect("b must get a connection by steal");
    assert_eq!(D::text(&mut conn, D::CURRENT_DATABASE).await, b);
    let peak = sampler.finish().await?.peak;
    let c = registry.stats().counters;
    assert!(c.budget_steals >= 1, "no steal happened");
    assert_eq!(
        c.checkout_timeouts, 0,
        "b waited for the timeout instead of stealing"
    );
    assert!(peak <= BUDGET as i64, "peak {peak} > budget {BUDGET}");
    // The stolen session's close may still be under way on the server (MySQL lists a closed
    // session a while longer): the count settles at the budget.
    let (count, waited) = wait_until(
        Duration::from_secs(5),
        || t.count(),
        |n| matches!(n, Ok(n) if *n == BUDGET as i64),
    )
    .await;
    assert_eq!(count?, BUDGET as i64, "after {waited:?}");
    Ok(())
}

pub async fn connections_returned_to_pools_nobody_waits_on_pass_their_permit_to_a_waiting_tenant<
    D: Dialect,
>() -> TestResult {
    const BUDGET: usize = 2;
    let Some(t) = Fixture::<D::Server>::start("tp_handoff", BUDGET as u32 + 3).await? else {
        return Ok(());
    };
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    // No steal retries during the test: the permit must come from the hand-off.
    s.budget.steal_retry = Duration::from_secs(60);
    let (dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_handoff", s).await?;
    let b = dbs.name("b");

    // Every permit is held by a connection in use.
    let held = hold(&registry, "a", BUDGET).await;
    let r = registry.clone();
    let waiter = tokio::spawn(async move {
        let mut c = r.get(&tenant("b")).await?;
        Ok::<_, Error>(D::text(&mut c, D::CURRENT_DATABASE).await)
    });
    let (waiting, _) = wait_until(
        Duration::from_secs(5),
        || async { registry.stats().budgets[0].waiting },
        |w| *w > 0,
    )
    .await;
    assert!(waiting > 0, "b never waited for a permit");
    // They are returned to a pool nobody waits on: one is closed so that b can open one.
    drop(held);
    let got = waiter
        .await
        .expect("waiter task")
        .expect("b must get the handed-off permit");
    assert_eq!(got, b);
    let c = registry.stats().counters;
    assert!(c.handed_off >= 1, "no connection was handed off");
    assert_eq!(c.checkout_timeouts, 0);
    assert!(t.count().await? <= BUDGET as i64);
    Ok(())
}

pub async fn a_budget_held_by_busy_connections_fails_the_checkout_with_exhausted_after_the_timeout<
    D: Dialect,
>() -> TestResult {
    const BUDGET: usize = 2;
    let Some(t) = Fixture::<D::Server>::start("tp_exhausted", BUDGET as u32 + 2).await? else {
        return Ok(());
    };
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let (_dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_exhausted", s).await?;
    let _held = hold(&registry, "a", BUDGET).await;
    let err = registry
        .get(&tenant("b"))
        .await
        .expect_err("the budget is exhausted");
    assert!(matches!(err, Error::Exhausted { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 503);
    assert!(err.retry_after().is_some());
    assert_eq!(
        registry.stats().budgets[0].waiting,
        0,
        "a timed-out waiter still counts"
    );
    assert_eq!(t.count().await?, BUDGET as i64);
    Ok(())
}
