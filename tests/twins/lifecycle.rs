//! Pool lifetimes: sharing, eviction, idle reaping, shutdown.

use std::time::Duration;

use super::Dialect;
use crate::common::{
    databases, hold, one_tenant, registry, settings, tenant, two_tenants, Fixture,
};
use crate::common::{TestResult, TestServer};

pub async fn evicting_one_tenant_keeps_a_shared_pool_open_until_the_last_user_leaves<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_shared_pool", 6).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_shared").await?;
    let mut s = settings(4, 2);
    s.cache.time_to_idle = Duration::from_secs(600);
    s.pool.idle_timeout = Duration::from_secs(600);
    let pairs = [("alpha", db.name()), ("beta", db.name())];
    let registry = registry::<D::Conn>(s, databases(&t, &pairs));

    let mut a = registry.get(&tenant("alpha")).await.expect("alpha");
    let mut b = registry.get(&tenant("beta")).await.expect("beta");
    D::text(&mut a, "SELECT 'a' AS value").await;
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
        D::text(&mut b, "SELECT 'still here' AS value").await,
        "still here"
    );
    let stats = registry.stats();
    assert_eq!(
        stats.counters.pools_closed, 0,
        "evicting alpha closed beta's pool"
    );
    assert_eq!(stats.pools.len(), 1);
    assert_eq!(t.count().await?, 2, "both connections stay open");

    // beta is evicted while it still holds a connection: the guard keeps the pool alive.
    registry.evict(&tenant("beta"));
    registry.run_maintenance();
    assert!(!registry.is_cached(&tenant("beta")));
    assert_eq!(
        registry.stats().counters.pools_closed,
        0,
        "pool closed under a live guard"
    );
    assert_eq!(
        D::text(&mut b, "SELECT 'guarded' AS value").await,
        "guarded"
    );
    assert_eq!(t.count().await?, 2, "the idle connection went with alpha");

    // The last user leaves: the pool closes and every connection with it, at once.
    drop(b);
    let (left, took) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(
        left, 0,
        "connections left on the server after the last user left"
    );
    let stats = registry.stats();
    assert_eq!(stats.counters.pools_closed, 1);
    assert!(stats.pools.is_empty());
    eprintln!(
        "FIGURES {}shared_pool: last_user_to_zero={took:?}",
        D::FIGURES
    );
    Ok(())
}

pub async fn idle_connections_are_reaped_without_traffic_while_the_tenant_stays_cached<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_reaper", 6).await? else {
        return Ok(());
    };
    let mut s = settings(4, 3);
    s.pool.idle_timeout = Duration::from_millis(300);
    s.cache.time_to_idle = Duration::from_secs(600);
    let (_db, registry) = one_tenant::<D::Conn, _>(&t, "tp_reaper", "sleepy", s).await?;
    let held = hold(&registry, "sleepy", 3).await;
    assert_eq!(t.count().await?, 3);
    drop(held);
    let (left, took) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(left, 0, "idle connections were not reaped");
    assert!(
        registry.is_cached(&tenant("sleepy")),
        "the tenant should still be cached"
    );
    assert_eq!(registry.stats().counters.reaped_idle, 3);
    eprintln!(
        "FIGURES {}reaper: idle_timeout=300ms idle_to_zero={took:?}",
        D::FIGURES
    );
    // The tenant still works: a new connection is opened on demand.
    let mut c = registry
        .get(&tenant("sleepy"))
        .await
        .expect("after reaping");
    assert_eq!(D::text(&mut c, "SELECT 'back' AS value").await, "back");
    Ok(())
}

pub async fn shutdown_waits_for_checked_out_connections_then_leaves_none_on_the_server<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_shutdown", 6).await? else {
        return Ok(());
    };
    let (_dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_shutdown", settings(4, 2)).await?;
    let held = registry.get(&tenant("a")).await.expect("a");
    let idle = registry.get(&tenant("b")).await.expect("b");
    drop(idle);
    assert_eq!(t.count().await?, 2);

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
    let (left, _) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(left, 0, "connections left on the server after shutdown");
    Ok(())
}
