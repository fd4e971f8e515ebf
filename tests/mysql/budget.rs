//! The per-server budget: steals from idle pools, hands returned connections to waiting
//! creators, and fails with a typed error only after the checkout timeout.

use std::time::Duration;

use tenantpool::Error;

use crate::common::{self, my};
use crate::{databases, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_budget_of_idle_connections_makes_room_by_stealing_not_by_timeout() {
    const BUDGET: usize = 4;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_steal";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_steal_a".to_string(), "tp_steal_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    s.pool.idle_timeout = Duration::from_secs(600);
    let registry = registry(
        s,
        databases(user, &[("a", "tp_steal_a"), ("b", "tp_steal_b")]),
    );

    // Tenant a fills the whole budget, then goes idle: four idle connections, budget full.
    let held = crate::hold(&registry, "a", BUDGET).await;
    drop(held);
    assert_eq!(admin.count(user).await, BUDGET as i64);
    assert_eq!(registry.stats().budgets[0].open, BUDGET);

    // The steal closes one of a's connections and opens one for b at once: count the
    // sessions this process still holds (see `count_held`).
    let sampler = my::held_sampler(user, BUDGET as i64).await;
    let mut b = registry
        .get(&tenant("b"))
        .await
        .expect("b must get a connection by steal");
    assert_eq!(
        text(&mut b, "SELECT DATABASE() AS value").await,
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
    assert_eq!(admin.count(user).await, BUDGET as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_returned_to_pools_nobody_waits_on_pass_their_permit_to_a_waiting_tenant() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_handoff";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_handoff_a".to_string(), "tp_handoff_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_secs(5);
    // No steal retries during the test: the permit must come from the hand-off.
    s.budget.steal_retry = Duration::from_secs(60);
    let registry = registry(
        s,
        databases(user, &[("a", "tp_handoff_a"), ("b", "tp_handoff_b")]),
    );

    // Every permit is held by a connection in use.
    let held = crate::hold(&registry, "a", BUDGET).await;
    let r = registry.clone();
    let waiter = tokio::spawn(async move {
        let mut c = r.get(&tenant("b")).await?;
        Ok::<_, Error>(text(&mut c, "SELECT DATABASE() AS value").await)
    });
    let (waiting, _) = common::wait_until(
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
    assert_eq!(got, "tp_handoff_b");
    let c = registry.stats().counters;
    assert!(c.handed_off >= 1, "no connection was handed off");
    assert_eq!(c.checkout_timeouts, 0);
    assert!(admin.count(user).await <= BUDGET as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_held_by_busy_connections_fails_the_checkout_with_exhausted_after_the_timeout() {
    const BUDGET: usize = 2;
    let _slots = common::reserve(BUDGET as u32 + 2).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_exhausted";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_exhausted_a".to_string(), "tp_exhausted_b".to_string()])
        .await;
    let mut s = settings(BUDGET, BUDGET);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let registry = registry(
        s,
        databases(user, &[("a", "tp_exhausted_a"), ("b", "tp_exhausted_b")]),
    );
    let _held = crate::hold(&registry, "a", BUDGET).await;
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
    assert_eq!(admin.count(user).await, BUDGET as i64);
}
