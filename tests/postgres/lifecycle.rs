//! Pool lifetimes: sharing, eviction, rebuilt entries, idle reaping, broken connections,
//! shutdown.

use std::time::Duration;

use crate::common::{self, pg};
use crate::{backend_pid, databases, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicting_one_tenant_keeps_a_shared_pool_open_until_the_last_user_leaves() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_shared_pool";
    admin.ensure_databases(&["tp_shared".to_string()]).await;
    let mut s = settings(4, 2);
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(
        s,
        databases(app, &[("alpha", "tp_shared"), ("beta", "tp_shared")]),
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
    assert_eq!(admin.count(app).await, 2, "both connections stay open");

    // beta is evicted while it still holds a connection: the guard keeps the pool alive.
    registry.evict(&tenant("beta"));
    registry.run_maintenance();
    assert_eq!(
        registry.stats().counters.pools_closed,
        0,
        "pool closed under a live guard"
    );
    assert_eq!(text(&mut b, "SELECT 'guarded' AS value").await, "guarded");

    // The last user leaves: the pool closes and every connection with it, at once.
    drop(b);
    let (left, took) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(left, 0);
    assert_eq!(registry.stats().counters.pools_closed, 1);
    eprintln!("FIGURES shared_pool: last_user_to_zero={took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rebuilt_before_its_expiry_notice_keeps_the_live_pool() {
    let _slots = common::reserve(5).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_rebuilt";
    admin.ensure_databases(&["tp_rebuilt".to_string()]).await;
    let mut s = settings(3, 2);
    s.cache.time_to_idle = Duration::from_millis(300);
    // No maintenance of its own: the expiry notice is delivered only when the test says so.
    s.cache.maintenance_interval = Duration::from_secs(3600);
    let registry = registry(s, databases(app, &[("phoenix", "tp_rebuilt")]));

    // The first entry's guard stays out while the entry expires, so whenever moka's
    // housekeeping delivers the expiry notice, the old entry and the rebuilt one overlap.
    let mut first = registry.get(&tenant("phoenix")).await.expect("first start");
    let pid = backend_pid(&mut first).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !registry.is_cached(&tenant("phoenix")),
        "the entry should have expired"
    );
    let mut second = registry.get(&tenant("phoenix")).await.expect("rebuilt");
    let second_pid = backend_pid(&mut second).await;
    assert_eq!(
        registry.stats().counters.tenants_started,
        2,
        "the entry was not rebuilt"
    );
    assert_eq!(
        registry.stats().counters.pools_created,
        1,
        "the rebuilt entry got a pool of its own"
    );
    drop(first);
    drop(second);
    // Deliver the stale notice (if housekeeping has not already).
    registry.run_maintenance();
    let stats = registry.stats();
    assert_eq!(
        stats.counters.pools_closed, 0,
        "the stale notice closed the live pool"
    );
    assert_eq!(stats.pools.len(), 1);
    assert_eq!(
        admin.count(app).await,
        2,
        "the live pool lost its connections"
    );
    let mut again = registry
        .get(&tenant("phoenix"))
        .await
        .expect("after the notice");
    let pid_again = backend_pid(&mut again).await;
    assert!(
        pid_again == pid || pid_again == second_pid,
        "a new connection was opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_reaped_without_traffic_while_the_tenant_stays_cached() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_reaper";
    admin.ensure_databases(&["tp_reaper".to_string()]).await;
    let mut s = settings(4, 3);
    s.pool.idle_timeout = Duration::from_millis(300);
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(s, databases(app, &[("sleepy", "tp_reaper")]));
    let held = crate::hold(&registry, "sleepy", 3).await;
    assert_eq!(admin.count(app).await, 3);
    drop(held);
    let (left, took) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "idle connections were not reaped");
    assert!(
        registry.is_cached(&tenant("sleepy")),
        "the tenant should still be cached"
    );
    assert_eq!(registry.stats().counters.reaped_idle, 3);
    eprintln!("FIGURES reaper: idle_timeout=300ms idle_to_zero={took:?}");
    // The tenant still works: a new connection is opened on demand.
    let mut c = registry
        .get(&tenant("sleepy"))
        .await
        .expect("after reaping");
    assert_eq!(text(&mut c, "SELECT 'back' AS value").await, "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_on_the_server_is_replaced_not_handed_out() {
    let _slots = common::reserve(5).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_killed";
    admin.ensure_databases(&["tp_killed".to_string()]).await;
    let registry = registry(settings(3, 1), databases(app, &[("victim", "tp_killed")]));
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    let pid = backend_pid(&mut c).await;
    drop(c);
    // Waits (up to 5 s) until the backend process has exited, which closes its socket.
    admin
        .exec(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
        .await;
    admin.wait_for_zero(app, Duration::from_secs(5)).await;
    // The driver notices the closed socket when the I/O runtime next polls it, microseconds to
    // a few milliseconds after the exit; a checkout inside that window would get the dead
    // connection and fail its first query with a connection error (503 in the adapter), the
    // same as a kill during a request. Past it, the next checkout gets a new, working one.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = registry
        .get(&tenant("victim"))
        .await
        .expect("checkout after kill");
    let new_pid = backend_pid(&mut c).await;
    assert_ne!(new_pid, pid);
    assert!(registry.stats().counters.discarded_broken >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_checked_out_connections_then_leaves_none_on_the_server() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_shutdown";
    admin
        .ensure_databases(&["tp_shutdown_a".to_string(), "tp_shutdown_b".to_string()])
        .await;
    let registry = registry(
        settings(4, 2),
        databases(app, &[("a", "tp_shutdown_a"), ("b", "tp_shutdown_b")]),
    );
    let held = registry.get(&tenant("a")).await.expect("a");
    let idle = registry.get(&tenant("b")).await.expect("b");
    drop(idle);
    assert_eq!(admin.count(app).await, 2);

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
    let (left, _) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "connections left on the server after shutdown");
}

/// The warm path's per-thread front (which skips the tenant cache between refreshes) neither
/// lets a tenant in use expire nor hides an eviction, and idle tenants still go to zero.
#[tokio::test(flavor = "current_thread")]
async fn a_tenant_in_use_stays_cached_an_evicted_one_restarts_an_idle_one_goes_to_zero() {
    let _slots = common::reserve(2).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_front";
    admin.ensure_databases(&["tp_front".to_string()]).await;
    let mut s = settings(4, 1);
    s.cache.time_to_idle = Duration::from_millis(400);
    let registry = registry(s, databases(app, &[("busy", "tp_front")]));
    let busy = tenant("busy");

    // Three times the time to idle, used every 2 ms from one thread: most lookups are served
    // by the front (refreshed through the cache every 400 / 32 = 12.5 ms).
    let until = std::time::Instant::now() + Duration::from_millis(1200);
    let mut checkouts = 0;
    while std::time::Instant::now() < until {
        let mut c = registry.get(&busy).await.expect("checkout");
        assert_eq!(text(&mut c, "SELECT 'ok' AS value").await, "ok");
        drop(c);
        checkouts += 1;
        if checkouts % 10 == 0 {
            registry.run_maintenance();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let counters = registry.stats().counters;
    assert!(checkouts > 200, "{checkouts} checkouts");
    assert_eq!(
        (counters.tenants_started, counters.tenants_evicted),
        (1, 0),
        "a tenant in use expired"
    );

    // Evicted: the next checkout on the same thread starts it again, at once.
    registry.evict(&busy);
    drop(registry.get(&busy).await.expect("after eviction"));
    assert_eq!(registry.stats().counters.tenants_started, 2);

    // Unused: it expires and its connection closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    registry.run_maintenance();
    assert!(!registry.is_cached(&busy), "an idle tenant stayed cached");
    let (left, waited) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "connections left {waited:?} after the expiry");
}
