//! Readiness on a real server: ready while the server accepts connections, not ready (with a
//! reason naming the server) while it refuses them, ready again when it is back; not ready
//! while the budget stays exhausted past `readiness.exhausted_for`; and the probe of a quiet
//! server leaves no connection behind. The outage is a [`SeveringProxy`] between the registry
//! and the server, which refuses new connections and cuts the open ones: the real server
//! never stops.

use std::time::Duration;

use tenantpool::{
    DatabaseUrl, NotReadyCause, ProbeOutcome, Readiness, Registry, Settings, StaticDirectory,
    TenantTarget,
};
use tenantpool_testkit::{SeveringProxy, TestServer};

use super::Dialect;
use crate::common::{
    hold, host_port, registry, settings, tenant, two_tenants, wait_until, Fixture, TestResult,
};

/// Small windows, so that every wait of these tests is short.
fn quick(budget: usize, max_size: usize) -> Settings {
    let mut s = settings(budget, max_size);
    s.readiness.recent = Duration::from_millis(400);
    s.readiness.exhausted_for = Duration::from_millis(300);
    s.pool.connect_timeout = Duration::from_secs(2);
    s.budget.server_backoff_initial = Duration::from_millis(20);
    s.budget.server_backoff_max = Duration::from_millis(100);
    s
}

/// Tenant `acme` on a throwaway database reached through a proxy, and the server key the
/// registry sees (the proxy's address).
async fn behind_proxy<D: Dialect>(
    t: &Fixture<D::Server>,
    prefix: &str,
    s: Settings,
) -> Result<
    (
        tenantpool_testkit::Database,
        SeveringProxy,
        Registry<D::Conn>,
        String,
    ),
    tenantpool_testkit::Error,
> {
    let db = t.server.throwaway_database(prefix).await?;
    let upstream = host_port(t.server.base_url());
    let proxy = SeveringProxy::start(&upstream).await?;
    let url = DatabaseUrl::parse(&proxy.proxied(&t.url(db.name()))).expect("url");
    let server = url.server().to_string();
    let mut dir = StaticDirectory::new();
    dir.insert(tenant("acme"), TenantTarget::database(url));
    Ok((db, proxy, registry::<D::Conn>(s, dir), server))
}

/// Asks readiness until `done` holds, for up to 5 s.
async fn readiness_until<C: tenantpool::Backend>(
    registry: &Registry<C>,
    done: impl Fn(&Readiness) -> bool,
) -> Readiness {
    let (readiness, waited) =
        wait_until(Duration::from_secs(5), || registry.readiness(), done).await;
    eprintln!("readiness after {waited:?}: {readiness:?}");
    readiness
}

pub async fn readiness_turns_unready_while_the_server_refuses_connections_and_ready_when_it_is_back<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_ready_outage", 4).await? else {
        return Ok(());
    };
    let (_db, proxy, registry, server) =
        behind_proxy::<D>(&t, "tp_ready_outage", quick(2, 2)).await?;

    // Nothing started: nothing to be unready about.
    let idle = registry.readiness().await;
    assert!(idle.ready && idle.servers.is_empty(), "{idle:?}");

    drop(registry.get(&tenant("acme")).await.expect("start acme"));
    let up = registry.readiness().await;
    assert!(up.ready, "{up:?}");
    assert_eq!(up.servers.len(), 1);
    assert_eq!(up.servers[0].server.to_string(), server);
    assert_eq!(up.servers[0].probe, None, "a server just used was probed");

    // The server goes away for new and open connections alike.
    proxy.refuse_new();
    proxy.sever_existing();
    let down = readiness_until(&registry, |r| !r.ready).await;
    assert!(!down.ready, "still ready during the outage: {down:?}");
    let reason = &down.reasons[0];
    assert_eq!(reason.cause, NotReadyCause::NoRecentConnection);
    assert_eq!(
        reason.server.as_ref().map(|s| s.to_string()),
        Some(server.clone())
    );
    assert!(
        reason
            .message
            .starts_with(&format!("{server}: no connection accepted for ")),
        "{}",
        reason.message
    );
    assert_eq!(down.servers[0].probe, Some(ProbeOutcome::Failed));
    let json = serde_json::to_string(&down).expect("json");
    assert!(
        !json.contains(t.tag.name()),
        "the tag (a user or application name) leaked: {json}"
    );
    assert!(
        !json.contains("tp_ready_outage"),
        "a database name leaked: {json}"
    );

    // Back: the next probe is accepted, and the probe's connection is closed again.
    proxy.accept_new();
    let back = readiness_until(&registry, |r| r.ready).await;
    assert!(back.ready, "not ready after the server came back: {back:?}");
    assert!(back.reasons.is_empty());

    registry.shutdown(Duration::from_secs(5)).await;
    let closing = registry.readiness().await;
    assert!(!closing.ready, "ready while shutting down");
    assert_eq!(closing.reasons[0].cause, NotReadyCause::ShuttingDown);
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn a_budget_exhausted_past_the_window_is_unready_until_it_frees<D: Dialect>() -> TestResult
{
    let Some(t) = Fixture::<D::Server>::start("tp_ready_budget", 4).await? else {
        return Ok(());
    };
    let mut s = quick(1, 1);
    s.readiness.recent = Duration::from_secs(30);
    s.pool.checkout_timeout = Duration::from_secs(10);
    let (_dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_ready_budget", s).await?;

    // a holds the whole budget; b waits for a permit.
    let held = hold(&registry, "a", 1).await;
    let r = registry.clone();
    let waiter = tokio::spawn(async move { r.get(&tenant("b")).await.map(drop) });
    let exhausted = readiness_until(&registry, |r| !r.ready).await;
    assert!(
        !exhausted.ready,
        "ready with a budget exhausted past the window: {exhausted:?}"
    );
    let reason = &exhausted.reasons[0];
    assert_eq!(reason.cause, NotReadyCause::BudgetExhausted);
    // Unready once exhausted longer than 300 ms; `for_ms` is that time in whole milliseconds.
    assert!(reason.for_ms.is_some_and(|ms| ms >= 300), "{reason:?}");
    assert!(
        reason.message.contains(": budget exhausted for ")
            && reason.message.ends_with("(1 of 1 connections open)"),
        "{}",
        reason.message
    );

    // a gives its connection back: b gets the permit, and the budget has freed.
    drop(held);
    waiter
        .await
        .expect("waiter task")
        .expect("b's checkout after a's release");
    let freed = readiness_until(&registry, |r| r.ready).await;
    assert!(freed.ready, "not ready after the budget freed: {freed:?}");
    assert_eq!(freed.servers[0].exhausted_ms, None);

    registry.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn concurrent_readiness_calls_share_one_probe_whose_connection_is_closed_after<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_ready_probe", 4).await? else {
        return Ok(());
    };
    let (_db, _proxy, registry, _) = behind_proxy::<D>(&t, "tp_ready_probe", quick(2, 2)).await?;
    drop(registry.get(&tenant("acme")).await.expect("start acme"));

    // The tenant goes, its pool closes: the service is idle, the server quiet.
    registry.evict(&tenant("acme"));
    registry.run_maintenance();
    let (left, waited) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(left, 0, "pool connections left after {waited:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;

    let before = registry.stats().counters.readiness_probes;
    let calls = futures_util::future::join_all((0..8).map(|_| registry.readiness())).await;
    for r in &calls {
        assert!(r.ready, "{r:?}");
        assert_eq!(r.servers[0].probe, Some(ProbeOutcome::Accepted));
    }
    let probes = registry.stats().counters.readiness_probes - before;
    assert_eq!(probes, 1, "8 concurrent calls made {probes} probes");

    // The probe's connection is closed, on the server and in the budget.
    let (left, waited) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(
        left, 0,
        "the probe's connection is still open after {waited:?}"
    );
    assert_eq!(
        registry.stats().budgets[0].open,
        0,
        "the probe kept its permit"
    );

    registry.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
