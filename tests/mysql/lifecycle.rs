//! Pool lifetimes: sharing, eviction, idle reaping, connections killed on the server,
//! shutdown.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use tenantpool::Registry;
use tenantpool_testkit::MySqlServer;

use crate::common::{one_tenant, settings, tenant, Fixture, TestResult};
use crate::twins::twins;
use crate::{connection_id, My, MySql, Num, Row};

twins!(MySql, lifecycle, threads = 2:
    evicting_one_tenant_keeps_a_shared_pool_open_until_the_last_user_leaves,
    idle_connections_are_reaped_without_traffic_while_the_tenant_stays_cached,
    shutdown_waits_for_checked_out_connections_then_leaves_none_on_the_server,
);

/// Opens `victim`'s one connection, returns it to the pool, and kills its session on the
/// server; returns the session's id once the server no longer lists it.
async fn kill_the_idle_connection(
    t: &Fixture<MySqlServer>,
    registry: &Registry<My>,
) -> Result<i64, tenantpool_testkit::Error> {
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    let id = connection_id(&mut c).await;
    drop(c);
    t.server.kill(id).await?;
    let (left, _) = t.wait_for_zero(Duration::from_secs(5)).await?;
    assert_eq!(left, 0, "the killed session is still on the server");
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_validation_on_every_checkout_a_killed_connection_is_replaced_not_handed_out(
) -> TestResult {
    // MySQL cannot see locally that the server closed an idle connection (PostgreSQL's driver
    // task can): without validation, the next request on it fails once and the connection is
    // discarded (the next test). Validating every checkout trades a round trip for that.
    let Some(t) = Fixture::<MySqlServer>::start("tp_killed", 5).await? else {
        return Ok(());
    };
    let mut s = settings(3, 1);
    s.pool.validate_after_idle = Some(Duration::ZERO);
    let (_db, registry) = one_tenant::<My, _>(&t, "tp_killed", "victim", s).await?;
    let id = kill_the_idle_connection(&t, &registry).await?;
    // The next checkout must get a new, working connection, not the dead one.
    let mut c = registry
        .get(&tenant("victim"))
        .await
        .expect("checkout after kill");
    let new_id = connection_id(&mut c).await;
    assert_ne!(new_id, id);
    assert!(registry.stats().counters.discarded_broken >= 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_on_the_server_fails_at_most_one_request_and_is_never_reused(
) -> TestResult {
    let Some(t) = Fixture::<MySqlServer>::start("tp_lost", 5).await? else {
        return Ok(());
    };
    // Within the validation window (here 30 s) a connection is handed out on local checks
    // alone: what happens when the server closed it there.
    let mut s = settings(3, 1);
    s.pool.validate_after_idle = Some(Duration::from_secs(30));
    let (_db, registry) = one_tenant::<My, _>(&t, "tp_lost", "victim", s).await?;
    // What a server restart or a network cut does to every pooled connection.
    let id = kill_the_idle_connection(&t, &registry).await?;

    // A request may meet the dead connection once, and must then see a connection error...
    let mut c = registry.get(&tenant("victim")).await.expect("checkout");
    if let Err(e) = diesel::sql_query("SELECT 'x' AS value")
        .get_result::<Row>(&mut *c)
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
            .get_result::<Num>(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("request {i} after the loss got the dead connection: {e}"));
        assert_ne!(again.n, id, "request {i}");
    }
    let c = registry.stats().counters;
    assert!(
        c.discarded_broken + c.discarded_dirty >= 1,
        "the dead connection was never discarded: {c:?}"
    );
    assert_eq!(t.count().await?, 1);
    Ok(())
}
