//! Pool lifetimes: sharing, eviction, idle reaping, connections killed on the server,
//! shutdown.

use std::time::Duration;

use diesel_async::RunQueryDsl;

use crate::common::{self, my};
use crate::{connection_id, databases, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicting_one_tenant_keeps_a_shared_pool_open_until_the_last_user_leaves() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_shared_pool";
    admin.user(user).await;
    admin.databases_with_items(&["tp_shared".to_string()]).await;
    let mut s = settings(4, 2);
    s.cache.time_to_idle = Duration::from_secs(600);
    s.pool.idle_timeout = Duration::from_secs(600);
    let registry = registry(
        s,
        databases(user, &[("alpha", "tp_shared"), ("beta", "tp_shared")]),
    );

    let mut a = registry.get(&tenant("alpha")).await.expect("alpha");
    let mut b = registry.get(&tenant("beta")).await.expect("beta");
    text(&mut a, "SELECT 'a' AS value").await;
    assert_eq!(
        registry.stats().counters.pools_created,
        1,
        "alpha and beta share one pool"
    );
    drop(a);

    registry.evict(&tenant("alpha"));
    registry.run_maintenance();
    assert!(!registry.is_cached(&tenant("alpha")));
    assert_eq!(
        text(&mut b, "SELECT 'still here' AS value").await,
        "still here"
    );
    let stats = registry.stats();
    assert_eq!(
        stats.counters.pools_closed, 0,
        "evicting alpha closed beta's pool"
    );
    assert_eq!(stats.pools.len(), 1);
    assert_eq!(admin.count(user).await, 2, "both connections stay open");

    // beta is evicted while it still holds a connection: the guard keeps the pool alive.
    registry.evict(&tenant("beta"));
    registry.run_maintenance();
    assert!(!registry.is_cached(&tenant("beta")));
    assert_eq!(
        registry.stats().counters.pools_closed,
        0,
        "pool closed under a live guard"
    );
    assert_eq!(text(&mut b, "SELECT 'guarded' AS value").await, "guarded");
    assert_eq!(
        admin.count(user).await,
        2,
        "the idle connection went with alpha"
    );

    // The last user leaves: the pool closes and every connection with it, at once.
    drop(b);
    let (left, took) = admin.wait_for_zero(user, Duration::from_secs(5)).await;
    assert_eq!(
        left, 0,
        "connections left on the server after the last user left"
    );
    let stats = registry.stats();
    assert_eq!(stats.counters.pools_closed, 1);
    assert!(stats.pools.is_empty());
    eprintln!("FIGURES mysql_shared_pool: last_user_to_zero={took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_reaped_without_traffic_while_the_tenant_stays_cached() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_reaper";
    admin.user(user).await;
    admin.databases_with_items(&["tp_reaper".to_string()]).await;
    let mut s = settings(4, 3);
    s.pool.idle_timeout = Duration::from_millis(300);
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(s, databases(user, &[("sleepy", "tp_reaper")]));
    let held = crate::hold(&registry, "sleepy", 3).await;
    assert_eq!(admin.count(user).await, 3);
    drop(held);
    let (left, took) = admin.wait_for_zero(user, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "idle connections were not reaped");
    assert!(
        registry.is_cached(&tenant("sleepy")),
        "the tenant should still be cached"
    );
    assert_eq!(registry.stats().counters.reaped_idle, 3);
    eprintln!("FIGURES mysql_reaper: idle_timeout=300ms idle_to_zero={took:?}");
    // The tenant still works: a new connection is opened on demand.
    let mut c = registry
        .get(&tenant("sleepy"))
        .await
        .expect("after reaping");
    assert_eq!(text(&mut c, "SELECT 'back' AS value").await, "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_validation_on_every_checkout_a_killed_connection_is_replaced_not_handed_out() {
    // MySQL cannot see locally that the server closed an idle connection (PostgreSQL's driver
    // task can): without validation, the next request on it fails once and the connection is
    // discarded (the next test). Validating every checkout trades a round trip for that.
    let _slots = common::reserve(5).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_killed";
    admin.user(user).await;
    admin.databases_with_items(&["tp_killed".to_string()]).await;
    let mut s = settings(3, 1);
    s.pool.validate_after_idle = Duration::ZERO;
    let registry = registry(s, databases(user, &[("victim", "tp_killed")]));
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    let id = connection_id(&mut c).await;
    drop(c);
    admin.kill(id).await;
    let (left, _) = admin.wait_for_zero(user, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "the killed session is still on the server");
    // The next checkout must get a new, working connection, not the dead one.
    let mut c = registry
        .get(&tenant("victim"))
        .await
        .expect("checkout after kill");
    let new_id = connection_id(&mut c).await;
    assert_ne!(new_id, id);
    assert!(registry.stats().counters.discarded_broken >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_on_the_server_fails_at_most_one_request_and_is_never_reused() {
    let _slots = common::reserve(5).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_lost";
    admin.user(user).await;
    admin.databases_with_items(&["tp_lost".to_string()]).await;
    let registry = registry(settings(3, 1), databases(user, &[("victim", "tp_lost")]));
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    let id = connection_id(&mut c).await;
    drop(c);
    // What a server restart or a network cut does to every pooled connection.
    admin.kill(id).await;
    let (left, _) = admin.wait_for_zero(user, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "the killed session is still on the server");

    // A request may meet the dead connection once, and must then see a connection error...
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    if let Err(e) = diesel::sql_query("SELECT 'x' AS value")
        .get_result::<crate::Row>(&mut *c)
        .await
    {
        assert!(
            tenantpool::is_connection_error(&e),
            "not reported as a lost connection: {e}"
        );
    }
    drop(c);
    // ...but every later request works, on a new session: the dead one is not reused.
    for i in 0..3 {
        let mut c = registry.get(&tenant("victim")).await.expect("checkout");
        let again = diesel::sql_query("SELECT CAST(CONNECTION_ID() AS SIGNED) AS n")
            .get_result::<crate::Num>(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("request {i} after the loss got the dead connection: {e}"));
        assert_ne!(again.n, id, "request {i}");
    }
    let c = registry.stats().counters;
    assert!(
        c.discarded_broken + c.discarded_dirty >= 1,
        "the dead connection was never discarded: {c:?}"
    );
    assert_eq!(admin.count(user).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_checked_out_connections_then_leaves_none_on_the_server() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_shutdown";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_shutdown_a".to_string(), "tp_shutdown_b".to_string()])
        .await;
    let registry = registry(
        settings(4, 2),
        databases(user, &[("a", "tp_shutdown_a"), ("b", "tp_shutdown_b")]),
    );
    let held = registry.get(&tenant("a")).await.expect("a");
    let idle = registry.get(&tenant("b")).await.expect("b");
    drop(idle);
    assert_eq!(admin.count(user).await, 2);

    let closing = registry.clone();
    let shutdown = tokio::spawn(async move { closing.shutdown(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the checked-out connection"
    );
    assert!(matches!(
        registry.get(&tenant("b")).await,
        Err(tenantpool::Error::Closed)
    ));
    drop(held);
    let report = shutdown.await.expect("shutdown task");
    assert!(report.clean, "{report:?}");
    let (left, _) = admin.wait_for_zero(user, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "connections left on the server after shutdown");
}
