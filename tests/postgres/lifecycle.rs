//! Pool lifetimes: sharing, eviction, rebuilt entries, idle reaping, broken connections,
//! shutdown.

use std::time::Duration;

use tenantpool_testkit::PgServer;

use crate::common::{one_tenant, settings, tenant, Fixture, TestResult, TestServer};
use crate::twins::twins;
use crate::{backend_pid, text, Pg, Postgres};

twins!(Postgres, lifecycle, threads = 2:
    evicting_one_tenant_keeps_a_shared_pool_open_until_the_last_user_leaves,
    idle_connections_are_reaped_without_traffic_while_the_tenant_stays_cached,
    shutdown_waits_for_checked_out_connections_then_leaves_none_on_the_server,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rebuilt_before_its_expiry_notice_keeps_the_live_pool() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_rebuilt", 5).await? else {
        return Ok(());
    };
    let mut s = settings(3, 2);
    s.cache.time_to_idle = Duration::from_millis(300);
    // No maintenance of its own: the expiry notice is delivered only when the test says so.
    s.cache.maintenance_interval = Duration::from_secs(3600);
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_rebuilt", "phoenix", s).await?;

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
    assert_eq!(t.count().await?, 2, "the live pool lost its connections");
    let mut again = registry
        .get(&tenant("phoenix"))
        .await
        .expect("after the notice");
    let pid_again = backend_pid(&mut again).await;
    assert!(
        pid_again == pid || pid_again == second_pid,
        "a new connection was opened"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_on_the_server_is_replaced_not_handed_out() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_killed", 5).await? else {
        return Ok(());
    };
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_killed", "victim", settings(3, 1)).await?;
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    let pid = backend_pid(&mut c).await;
    drop(c);
    // Waits (up to 5 s) until the backend process has exited, which closes its socket.
    t.server
        .run_sql(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
        .await?;
    t.wait_for_zero(Duration::from_secs(5)).await?;
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
    Ok(())
}

/// A tenant in use never expires from the cache, an evicted one restarts, and idle tenants
/// still go to zero.
#[tokio::test(flavor = "current_thread")]
async fn a_tenant_in_use_stays_cached_an_evicted_one_restarts_an_idle_one_goes_to_zero(
) -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_front", 2).await? else {
        return Ok(());
    };
    let mut s = settings(4, 1);
    let tti = Duration::from_millis(400);
    s.cache.time_to_idle = tti;
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_front", "busy", s).await?;
    let busy = tenant("busy");

    // Three times the time to idle, used every 2 ms or so from one thread.
    let started = std::time::Instant::now();
    let until = started + 3 * tti;
    let (mut checkouts, mut last, mut longest_gap) = (0, started, Duration::ZERO);
    while std::time::Instant::now() < until {
        let mut c = registry.get(&busy).await.expect("checkout");
        assert_eq!(text(&mut c, "SELECT 'ok' AS value").await, "ok");
        drop(c);
        checkouts += 1;
        longest_gap = longest_gap.max(last.elapsed());
        last = std::time::Instant::now();
        if checkouts % 10 == 0 {
            registry.run_maintenance();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let counters = registry.stats().counters;
    // The premise: the tenant was never left idle for its time to idle.
    assert!(
        longest_gap < tti / 2,
        "{checkouts} checkouts, the longest gap {longest_gap:?}: the machine is too busy for this test's premise"
    );
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
    let (left, waited) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(left, 0, "connections left {waited:?} after the expiry");
    Ok(())
}

/// I8: connections that died while idle in the pool (backends terminated by an administrator,
/// an idle-session timeout, a failover) and that the driver cannot see as dead yet are found
/// out by the registry's own schema switch or schema check, before any guard is handed over:
/// the checkout goes on with another connection, and the caller never sees the dead one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_lost_while_idle_are_replaced_before_the_schema_switch_reaches_the_caller(
) -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_lost", 4).await? else {
        return Ok(());
    };
    let db = crate::database_with_schemas(
        &t.server,
        "tp_lost",
        &["acme", "globex", "initech", "hooli", "umbrella"],
    )
    .await?;
    let upstream = crate::common::host_port(t.server.base_url());
    let proxy = tenantpool_testkit::SeveringProxy::start(&upstream).await?;
    let url = t
        .url(db.name())
        .replacen(&upstream, &proxy.addr().to_string(), 1);
    let dir = tenantpool::TemplateDirectory::schema(&url, "{tenant}").expect("template");
    let mut s = settings(3, 2);
    s.pool.tenant_max_in_use = Some(2);
    let registry = crate::common::registry::<Pg>(s, dir);

    // globex is started (warm), then two connections go idle in the shared pool, on acme's
    // schema.
    drop(registry.get(&tenant("globex")).await.expect("start globex"));
    let both = crate::common::hold(&registry, "acme", 2).await;
    drop(both);
    assert_eq!(registry.stats().pools[0].idle, 2);

    // Their server sessions end while they are idle; the driver cannot tell yet.
    proxy.sever_existing();
    let mut conn = registry
        .get(&tenant("globex"))
        .await
        .expect("a warm checkout that needs a schema switch");
    assert_eq!(
        text(&mut conn, "SELECT owner AS value FROM item").await,
        "globex"
    );
    let lost = registry.stats().counters.lost_before_handover;
    assert!(lost >= 1, "no lost connection was replaced");
    drop(conn);

    // The same at a cold start: its first connection comes from the pool, dead. Every
    // start must succeed on its own rows; the scenario is tried with up to three tenants
    // until one start has met a dead connection (a start may find its connection elsewhere,
    // and then has nothing to replace).
    let mut met = false;
    let mut seen = Vec::new();
    for key in ["initech", "hooli", "umbrella"] {
        let (idle, _) = crate::common::wait_until(
            Duration::from_secs(5),
            || async { registry.stats().pools[0].idle },
            |idle| *idle >= 1,
        )
        .await;
        assert!(idle >= 1, "no idle connection to sever");
        let before = registry.stats().counters.lost_before_handover;
        proxy.sever_existing();
        let mut conn = registry
            .get(&tenant(key))
            .await
            .expect("a cold start whose first connection was lost");
        assert_eq!(
            text(&mut conn, "SELECT owner AS value FROM item").await,
            key
        );
        drop(conn);
        let after = registry.stats();
        seen.push((key, idle, after.pools[0].size));
        if after.counters.lost_before_handover > before {
            met = true;
            break;
        }
    }
    assert!(
        met,
        "no start met a dead connection: (tenant, idle, size) {seen:?}"
    );

    let report = registry.shutdown(Duration::from_secs(5)).await;
    assert!(report.clean);
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
