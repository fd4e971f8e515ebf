//! Per-tenant pressure in the stats snapshot: known traffic (connections held, checkouts that
//! wait and are served, checkouts that time out) gives exact figures per tenant, in
//! `Registry::tenant_stats` and in the snapshot's top lists; a tenant started again starts
//! from zero.

use std::time::{Duration, SystemTime};

use tenantpool::directory::PoolOverrides;
use tenantpool::stats::TenantStats;
use tenantpool::{DatabaseUrl, Error, Registry, StaticDirectory, TenantTarget};

use super::Dialect;
use crate::common::{registry, settings, tenant, wait_until};
use crate::common::{Fixture, TestResult};

/// The checkout timeout of the tenant whose checkouts time out.
const SHORT: Duration = Duration::from_millis(250);

fn figures<C: tenantpool::Backend>(r: &Registry<C>, key: &str) -> TenantStats {
    r.tenant_stats(&tenant(key))
        .unwrap_or_else(|| panic!("{key} is not cached"))
}

fn keys(list: &[TenantStats]) -> Vec<&str> {
    list.iter().map(|t| t.tenant.as_str()).collect()
}

/// `(in_use, waiting, waits, timeouts)`.
fn counts(t: &TenantStats) -> (usize, usize, u64, u64) {
    (t.in_use, t.waiting, t.waits, t.timeouts)
}

pub async fn held_connections_waits_and_timeouts_give_exact_figures_per_tenant<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_pressure", 6).await? else {
        return Ok(());
    };
    let names = ["pra", "prb", "prc"].map(String::from);
    let fixture = D::database_tenants(&t, &names).await?;
    let url =
        |key: &str| DatabaseUrl::parse(&fixture.template.replace("{tenant}", key)).expect("url");
    // pra: pool of 2. prb: pool of 1, a short checkout timeout. prc: pool of 1, the registry's
    // (long) checkout timeout.
    let short = PoolOverrides {
        max_size: Some(1),
        checkout_timeout: Some(SHORT),
        ..PoolOverrides::default()
    };
    let dir = StaticDirectory::new()
        .with(tenant("pra"), TenantTarget::database(url("pra")))
        .with(
            tenant("prb"),
            TenantTarget::database(url("prb")).with_overrides(short),
        )
        .with(
            tenant("prc"),
            TenantTarget::database(url("prc")).with_max_size(1),
        );
    let began = SystemTime::now();
    // A budget above the 4 connections held, so that no start waits for a permit.
    let r = registry::<D::Conn>(settings(5, 2), dir);

    let none = r.stats().tenants;
    assert!(none.by_in_use.is_empty() && none.by_wait.is_empty());
    assert!(r.tenant_stats(&tenant("pra")).is_none(), "not started yet");

    // pra holds two: the first is the start's connection (no wait), the second is opened
    // during its checkout (one wait).
    let a1 = r.get(&tenant("pra")).await.expect("pra 1");
    let a2 = r.get(&tenant("pra")).await.expect("pra 2");
    // prb holds its only connection; three more checkouts wait and time out.
    let b1 = r.get(&tenant("prb")).await.expect("prb 1");
    for _ in 0..3 {
        assert!(matches!(
            r.get(&tenant("prb")).await,
            Err(Error::Exhausted { .. })
        ));
    }
    // prc holds its only connection; a second checkout waits until it comes back.
    let c1 = r.get(&tenant("prc")).await.expect("prc 1");
    let r2 = r.clone();
    let waiter = tokio::spawn(async move { r2.get(&tenant("prc")).await.map(drop) });
    let (prc, waited) = wait_until(
        Duration::from_secs(10),
        || async { figures(&r, "prc") },
        |f| f.waiting == 1,
    )
    .await;
    // The waiting checkout holds a reference to the entry but no connection.
    assert_eq!(counts(&prc), (1, 1, 1, 0), "prc while waiting ({waited:?})");

    let (pra, prb) = (figures(&r, "pra"), figures(&r, "prb"));
    assert_eq!(counts(&pra), (2, 0, 1, 0), "pra");
    assert_eq!(counts(&prb), (1, 0, 3, 3), "prb");
    assert!(prb.wait_time >= SHORT * 3, "prb waited {:?}", prb.wait_time);
    for f in [&pra, &prb, &prc] {
        assert!(f.started_at >= began, "{}: {:?}", f.tenant, f.started_at);
    }
    assert!(!pra.target.to_string().is_empty());
    // What the figures claim, the server shows: 2 + 1 + 1 sessions, all checked out.
    assert_eq!(t.count().await?, 4, "server sessions");

    let top = r.stats().tenants;
    // Equal figures rank by key: prb before prc.
    assert_eq!(keys(&top.by_in_use), ["pra", "prb", "prc"]);
    assert_eq!(top.by_in_use[0].in_use, 2);
    // prb's three timeouts outweigh any connect or hand-over wait.
    assert_eq!(keys(&top.by_wait)[0], "prb", "{:#?}", top.by_wait);
    assert_eq!(top.by_wait.len(), 3);
    assert!(top
        .by_wait
        .windows(2)
        .all(|w| w[0].wait_time >= w[1].wait_time));

    // The waiter is served when prc's connection comes back.
    drop(c1);
    waiter
        .await
        .expect("waiter task")
        .expect("the waiter is served");
    assert_eq!(counts(&figures(&r, "prc")), (0, 0, 1, 0), "prc once served");

    // Returned connections are no longer in use; the counts stay.
    drop((a1, a2, b1));
    assert_eq!(counts(&figures(&r, "pra")), (0, 0, 1, 0));
    assert_eq!(counts(&figures(&r, "prb")), (0, 0, 3, 3));
    assert!(r.stats().tenants.by_in_use.is_empty());

    // A tenant evicted and started again starts from zero.
    r.evict(&tenant("prb"));
    assert!(r.tenant_stats(&tenant("prb")).is_none(), "evicted");
    let b = r.get(&tenant("prb")).await.expect("prb again");
    let again = figures(&r, "prb");
    assert_eq!(counts(&again), (1, 0, 0, 0), "prb restarted");
    assert!(again.started_at >= prb.started_at);
    drop(b);

    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
