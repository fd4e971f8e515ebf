//! Work outside requests: the current tenant travels with `with_tenant` and `spawn`, a
//! fan-out runs one job per tenant within its limit and survives failing and panicking jobs, a
//! fan-out dropped mid-transaction leaves no lock and no open transaction; and two pool
//! settings seen end to end: `max_lifetime` and per-tenant `max_size`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection;
use tenantpool::{
    current_tenant, spawn, with_tenant, DatabaseUrl, Error, FanOutError, StaticDirectory,
    TenantTarget,
};

use super::errors::{assert_clean_after, locker};
use super::Dialect;
use crate::common::{databases, hold, registry, settings, tenant, wait_until};
use crate::common::{Fixture, TestResult, TestServer};

/// The owner of the `item` row the current connection sees.
const OWNER: &str = "SELECT owner AS value FROM item";

pub async fn the_current_tenant_travels_into_spawned_tasks_and_deep_calls<D: Dialect>() -> TestResult
{
    let Some(t) = Fixture::<D::Server>::start("tp_ctx", 4).await? else {
        return Ok(());
    };
    let keys = ["ca", "cb", "cc"];
    let schemas = D::schemas(&t, "tp_ctx", &keys).await?;
    let r = registry::<D::Conn>(settings(4, 4), schemas.directory());

    // Outside any context: a typed error, and nothing opened on the server.
    assert!(matches!(r.get_current().await, Err(Error::NoTenantContext)));
    assert!(matches!(spawn(async {}), Err(Error::NoTenantContext)));
    assert_eq!(
        t.count().await?,
        0,
        "a context-less checkout opened a connection"
    );

    for round in 0..3 {
        for (key, schema) in &schemas.tenants {
            let r2 = r.clone();
            let (direct, spawned) = with_tenant(tenant(key), async move {
                // "Deep in a call stack": no key passed down.
                let mut conn = r2
                    .get_current()
                    .await
                    .expect("checkout for the current tenant");
                let direct = D::text(&mut conn, OWNER).await;
                drop(conn);
                let r3 = r2.clone();
                let spawned = spawn(async move {
                    let mut conn = r3.get_current().await.expect("checkout in a spawned task");
                    (
                        current_tenant().expect("tenant"),
                        D::text(&mut conn, OWNER).await,
                    )
                })
                .expect("spawn in a context")
                .await
                .expect("spawned task");
                (direct, spawned)
            })
            .await;
            assert_eq!(
                &direct, schema,
                "round {round}, {key}: read another tenant's row"
            );
            assert_eq!(
                spawned,
                (tenant(key), schema.clone()),
                "round {round}, {key}: spawned"
            );
        }
    }
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn a_fan_out_runs_every_listed_tenant_within_its_limit_through_failures_and_panics<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_fan", 6).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..12).map(|i| format!("f{i:02}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let schemas = D::schemas(&t, "tp_fan", &key_refs).await?;
    let mut s = settings(6, 6);
    s.pool.tenant_max_in_use = Some(6);
    let r = registry::<D::Conn>(s, schemas.directory());
    let sampler = t.sampler(D::budget_count(6)).await?;

    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r2, running2, most2) = (r.clone(), running.clone(), most.clone());
    let outcomes = r
        .fan_out_all(3, move |key| {
            let (r, running, most) = (r2.clone(), running2.clone(), most2.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let result = async {
                    let mut conn = r.get_current().await.map_err(|e| e.to_string())?;
                    let owner = D::text(&mut conn, OWNER).await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    match key.as_str() {
                        "f03" | "f07" => Err(format!("job for {key} failed")),
                        "f05" | "f10" => panic!("job for {key} panicked"),
                        _ => Ok(owner),
                    }
                };
                // Count down on every exit, the panicking one included.
                struct Done(Arc<AtomicUsize>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _done = Done(running);
                result.await
            }
        })
        .await
        .expect("the static directory lists its tenants");
    let peak = sampler.finish().await?.peak;

    assert_eq!(outcomes.len(), keys.len(), "one outcome per tenant");
    let mut seen: Vec<String> = outcomes.iter().map(|o| o.tenant.to_string()).collect();
    seen.sort();
    assert_eq!(seen, keys);
    for o in &outcomes {
        let key = o.tenant.as_str();
        match (key, &o.result) {
            ("f03" | "f07", Err(FanOutError::Failed(e))) => assert!(e.contains(key)),
            ("f05" | "f10", Err(FanOutError::Panicked(m))) => assert!(m.contains(key), "{m}"),
            (_, Ok(owner)) => assert_eq!(owner, &schemas.schema(key), "{key} read another tenant"),
            (_, other) => panic!("{key}: unexpected outcome {other:?}"),
        }
    }
    assert!(most.load(Ordering::SeqCst) <= 3, "more than 3 jobs at once");
    // Three jobs at once hold three connections; a panicking job's connection is discarded
    // and may still be closing while the next job opens its own (two jobs panic).
    assert!(
        peak <= 3 + 2,
        "{peak} connections on the server for a fan-out of 3"
    );
    // Every job gave its connection back, the panicking ones included.
    let in_use: usize = r.stats().pools.iter().map(|p| p.in_use).sum();
    assert_eq!(in_use, 0, "a job kept its connection");
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn a_fan_out_dropped_mid_transaction_leaves_no_lock_and_no_open_transaction<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_fan_cancel", 4).await? else {
        return Ok(());
    };
    let (db, r) = locker::<D>(&t, "tp_fan_cancel").await?;
    let locked = Arc::new(tokio::sync::Notify::new());
    let (r2, locked2) = (r.clone(), locked.clone());
    let mut fan_out = Box::pin(r.fan_out([tenant("locker")], 1, move |_| {
        let (r, locked) = (r2.clone(), locked2.clone());
        async move {
            let mut conn = r.get_current().await?;
            conn.transaction::<(), diesel::result::Error, _>(async |conn| {
                D::execute(conn, D::LOCK_ROW).await?;
                locked.notify_one();
                // A long job, holding the row lock, until the fan-out is dropped.
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
            .map_err(|e| tenantpool::BoxError::from(e.to_string()))
        }
    }));
    tokio::select! {
        _ = &mut fan_out => panic!("the job ended on its own"),
        () = locked.notified() => {}
    }
    // Cancel: the fan-out's future is dropped with the job in its transaction.
    drop(fan_out);
    assert_clean_after::<D>(&r, &t, db.name(), "fan-out dropped").await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn connections_older_than_max_lifetime_are_closed_and_replaced<D: Dialect>() -> TestResult
{
    let Some(t) = Fixture::<D::Server>::start("tp_lifetime", 4).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_lifetime").await?;
    let mut s = settings(4, 2);
    s.pool.max_lifetime = Duration::from_millis(800);
    let r = registry::<D::Conn>(s, databases(&t, &[("old", db.name())]));

    // Returned after its lifetime: closed at the return, on the server too.
    let mut conn = r.get(&tenant("old")).await.expect("checkout");
    let first = D::text(&mut conn, D::SESSION_ID).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(t.count().await?, 1);
    drop(conn);
    let (left, waited) =
        wait_until(Duration::from_secs(5), || t.count(), |n| matches!(n, Ok(0))).await;
    assert_eq!(
        left?, 0,
        "the expired connection still on the server after {waited:?}"
    );

    // Idle past its lifetime: replaced at the next checkout, never handed out.
    let mut conn = r.get(&tenant("old")).await.expect("checkout");
    let second = D::text(&mut conn, D::SESSION_ID).await;
    assert_ne!(second, first, "the expired session was handed out again");
    drop(conn);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut conn = r.get(&tenant("old")).await.expect("checkout");
    let third = D::text(&mut conn, D::SESSION_ID).await;
    assert_ne!(
        third, second,
        "a session idle past max_lifetime was handed out"
    );
    let (listed, waited) =
        wait_until(Duration::from_secs(5), || t.count(), |n| matches!(n, Ok(1))).await;
    assert_eq!(
        listed?, 1,
        "expired sessions still on the server after {waited:?}"
    );
    drop(conn);
    assert!(r.stats().counters.reaped_lifetime >= 2);
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn a_tenant_with_its_own_max_size_gets_it_in_either_mode<D: Dialect>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_own_size", 10).await? else {
        return Ok(());
    };
    let checkout_timeout = Duration::from_millis(300);

    // Database mode: the tenant's own pool takes its size.
    let dbs = t
        .server
        .throwaway_databases("tp_own_size", &["small", "big"])
        .await?;
    let mut dir = StaticDirectory::new();
    let url = |name: &str| DatabaseUrl::parse(&t.url(name)).expect("url");
    dir.insert(
        tenant("small"),
        TenantTarget::database(url(&dbs.name("small"))).with_max_size(1),
    );
    dir.insert(tenant("big"), TenantTarget::database(url(&dbs.name("big"))));
    let mut s = settings(10, 4);
    s.pool.checkout_timeout = checkout_timeout;
    let r = registry::<D::Conn>(s.clone(), dir);
    let small = hold(&r, "small", 1).await;
    let refused = r.get(&tenant("small")).await;
    assert!(
        matches!(refused, Err(Error::Exhausted { .. })),
        "a second connection for a tenant of max_size 1: {:?}",
        refused.map(|_| ())
    );
    let big = hold(&r, "big", 4).await;
    assert_eq!(t.count().await?, 5, "1 for small, 4 for big");
    drop((small, big));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;

    // Schema mode: the shared pool keeps the registry's size whichever tenant builds it;
    // the tenant's own max_size caps its share.
    let schemas = D::schemas(&t, "tp_own_size", &["sa", "sb"]).await?;
    let shared_url = DatabaseUrl::parse(&schemas.url).expect("url");
    let schema = |k: &str| tenantpool::SchemaName::parse(&schemas.schema(k)).expect("schema");
    let mut dir = StaticDirectory::new();
    dir.insert(
        tenant("sa"),
        TenantTarget::schema(shared_url.clone(), schema("sa")).with_max_size(1),
    );
    dir.insert(tenant("sb"), TenantTarget::schema(shared_url, schema("sb")));
    s.pool.tenant_max_in_use = Some(4);
    let r = registry::<D::Conn>(s, dir);
    // The small tenant builds the pool first.
    let sa = hold(&r, "sa", 1).await;
    assert!(matches!(
        r.get(&tenant("sa")).await,
        Err(Error::Exhausted { .. })
    ));
    // The other tenant gets the registry's share (4), from a pool of the registry's size,
    // not one of size 1.
    let sb = hold(&r, "sb", 3).await;
    assert_eq!(t.count().await?, 4, "1 for sa, 3 for sb, in one pool of 4");
    let pools = r.stats().pools;
    assert_eq!(pools.len(), 1, "one shared pool");
    assert_eq!(pools[0].max_size, 4, "the shared pool took a tenant's size");
    drop((sa, sb));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
