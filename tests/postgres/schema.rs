//! Schema per tenant: every checkout is on the tenant's schema, switching costs a round trip
//! only when the connection was on another schema, and one tenant cannot starve the others
//! of a shared pool.

use std::time::Duration;

use tenantpool::{Error, Registry, TemplateDirectory};
use tenantpool_testkit::PgServer;

use crate::common::{registry, reserve, settings, tenant, wait_until, TestResult, TestServer};
use crate::twins::twins;
use crate::{backend_pid, database_with_schemas, text, Pg, Postgres};

twins!(Postgres, schema, threads = 2:
    a_connection_whose_schema_switch_was_cancelled_is_never_trusted_to_be_on_a_schema,
    user_code_that_changes_the_schema_must_discard_and_then_nobody_inherits_it,
    one_noisy_tenant_cannot_take_more_than_its_share_of_a_shared_pool,
    a_missing_schema_is_a_typed_error_unless_the_target_creates_it,
);
twins!(Postgres, schema, threads = 4:
    interleaved_schema_tenants_only_ever_see_their_own_schema_and_rows,
);

/// The tenants whose queued checkouts were served, in order.
type ServedOrder = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

/// Checks out for `key` in a task of its own; once served, checks that the connection is on
/// `key`'s rows, records `key` in `order` and returns the server session's pid.
fn queue_checkout(
    registry: &Registry<Pg>,
    order: &ServedOrder,
    key: &'static str,
) -> tokio::task::JoinHandle<i32> {
    let registry = registry.clone();
    let order = order.clone();
    tokio::spawn(async move {
        let mut c = registry.get(&tenant(key)).await.expect("queued checkout");
        assert_eq!(text(&mut c, "SELECT owner AS value FROM item").await, key);
        order.lock().expect("order").push(key);
        backend_pid(&mut c).await
    })
}

/// What became of two checkouts queued on a one-connection shared pool while `near` holds the
/// connection: `far` queues first, `near` second; `pause` after they queued, `near` returns
/// its connection. The order they were served in, and the affinity hand-offs and schema
/// switches it took. `None` when PostgreSQL is unreachable outside CI.
async fn near_and_far_waiting(
    prefix: &str,
    affinity_max_delay: Duration,
    pause: Duration,
) -> Result<Option<(Vec<&'static str>, u64, u64)>, tenantpool_testkit::Error> {
    let _slots = reserve(4).await;
    let Some(server) = PgServer::from_env().await else {
        return Ok(None);
    };
    let tag = server.tag(prefix).await?;
    let db = database_with_schemas(&server, prefix, &["near", "far"]).await?;
    let dir =
        TemplateDirectory::schema(&server.url(db.name(), &tag), "{tenant}").expect("template");
    let mut s = settings(2, 1);
    s.pool.affinity_max_delay = affinity_max_delay;
    let registry = registry::<Pg>(s, dir);
    drop(registry.get(&tenant("near")).await.expect("start near"));
    drop(registry.get(&tenant("far")).await.expect("start far"));

    let held = registry.get(&tenant("near")).await.expect("near");
    let order = ServedOrder::default();
    let waiter = |key| queue_checkout(&registry, &order, key);
    let pool_waiting = || async { registry.stats().pools[0].waiting };
    let far = waiter("far");
    wait_until(Duration::from_secs(5), pool_waiting, |w| *w >= 1).await;
    let near = waiter("near");
    wait_until(Duration::from_secs(5), pool_waiting, |w| *w >= 2).await;
    tokio::time::sleep(pause).await;
    let before = registry.stats().counters;
    drop(held);
    near.await.expect("near waiter");
    far.await.expect("far waiter");
    let after = registry.stats().counters;
    let order = order.lock().expect("order").clone();
    Ok(Some((
        order,
        after.affinity_handoffs - before.affinity_handoffs,
        after.schema_switches - before.schema_switches,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_connection_goes_first_to_a_checkout_waiting_for_its_schema() -> TestResult {
    // Affinity may pass `far` over for as long as the test takes.
    let Some((order, handoffs, switches)) = near_and_far_waiting(
        "tp_schema_affinity",
        Duration::from_secs(30),
        Duration::ZERO,
    )
    .await?
    else {
        return Ok(());
    };
    assert_eq!(
        order,
        vec!["near", "far"],
        "the connection on `near` should go to the `near` waiter first"
    );
    assert_eq!(handoffs, 1);
    assert_eq!(switches, 1, "only `far` switches");
    Ok(())
}

/// Affinity delays a waiter by at most `pool.affinity_max_delay`: past it, waiters are served
/// in order, and the returned connection goes to the older waiter of another schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_past_the_affinity_delay_is_served_before_a_later_one_on_the_schema() -> TestResult
{
    // `far` has waited longer than the delay when the connection comes back.
    let Some((order, handoffs, switches)) = near_and_far_waiting(
        "tp_affinity_delay",
        Duration::from_millis(20),
        Duration::from_millis(50),
    )
    .await?
    else {
        return Ok(());
    };
    assert_eq!(
        order,
        vec!["far", "near"],
        "`far` waited past the delay: it comes first, though the connection is on `near`"
    );
    assert_eq!(handoffs, 0);
    assert_eq!(switches, 2);
    Ok(())
}

/// A shared pool of two connections over the schemas `keys` of a throwaway database, each
/// tenant capped at one connection, checkouts bounded by 500 ms, affinity free to pass
/// waiters over for as long as a test takes; every tenant started.
struct CappedAtOne {
    registry: Registry<Pg>,
    tag: tenantpool_testkit::Tag,
    server: PgServer,
    _db: tenantpool_testkit::Database,
}

/// [`CappedAtOne`], or `None` when PostgreSQL is unreachable outside CI.
async fn capped_at_one(
    prefix: &str,
    keys: &[&str],
) -> Result<Option<CappedAtOne>, tenantpool_testkit::Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(None);
    };
    let tag = server.tag(prefix).await?;
    let db = database_with_schemas(&server, prefix, keys).await?;
    let dir =
        TemplateDirectory::schema(&server.url(db.name(), &tag), "{tenant}").expect("template");
    let mut s = settings(3, 2);
    s.pool.tenant_max_in_use = Some(1);
    s.pool.checkout_timeout = Duration::from_millis(500);
    s.pool.affinity_max_delay = Duration::from_secs(30);
    let registry = registry::<Pg>(s, dir);
    for k in keys {
        drop(registry.get(&tenant(k)).await.expect("start"));
    }
    Ok(Some(CappedAtOne {
        registry,
        tag,
        server,
        _db: db,
    }))
}

/// `key`, capped at one connection, gets exactly one: a second checkout beside it runs into
/// its deadline, and one after it succeeds.
async fn exactly_one_checkout_for(registry: &Registry<Pg>, key: &str) {
    let first = registry.get(&tenant(key)).await.expect("one checkout");
    let second = registry
        .get(&tenant(key))
        .await
        .expect_err("a second connection is over the tenant's share");
    assert!(matches!(second, Error::Exhausted { .. }), "{second:?}");
    drop(first);
    drop(
        registry
            .get(&tenant(key))
            .await
            .expect("one checkout, again"),
    );
}

/// A tenant at its fair share: its next checkout waits for a permit, and a connection the
/// tenant returns goes to that checkout with the permit, still on the tenant's schema, ahead of
/// an earlier waiter of another tenant (which would have to switch). The cap still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_share_gets_its_own_returned_connection_and_permit_without_a_switch(
) -> TestResult {
    let _slots = reserve(4).await;
    let Some(capped) = capped_at_one("tp_share_handoff", &["near", "other", "far"]).await? else {
        return Ok(());
    };
    let registry = &capped.registry;

    // Both connections out: `near` is at its share of one, the pool is exhausted.
    let mut held = registry.get(&tenant("near")).await.expect("near");
    let held_pid = backend_pid(&mut held).await;
    let other = registry.get(&tenant("other")).await.expect("other");
    let order = ServedOrder::default();
    let waiter = |key| queue_checkout(registry, &order, key);
    let before = registry.stats().counters;
    // `far` queues first, on the exhausted pool; `near` second, on its share.
    let far = waiter("far");
    wait_until(
        Duration::from_secs(5),
        || async { registry.stats().pools[0].waiting },
        |w| *w >= 1,
    )
    .await;
    let near = waiter("near");
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(held);
    let near_pid = near.await.expect("near waiter");
    drop(other);
    far.await.expect("far waiter");
    let after = registry.stats().counters;
    assert_eq!(
        *order.lock().expect("order"),
        vec!["near", "far"],
        "the connection `near` returned should go to `near`'s waiter, not to `far`"
    );
    assert_eq!(near_pid, held_pid, "the same server session, handed over");
    assert_eq!(
        after.schema_switches - before.schema_switches,
        1,
        "only `far` switches"
    );
    assert_eq!(after.affinity_handoffs - before.affinity_handoffs, 1);

    // The permit went along and came back once.
    exactly_one_checkout_for(registry, "near").await;
    Ok(())
}

/// A checkout that waited for its tenant's share and gave up (its deadline passed) leaves
/// nothing behind: the tenant's next return skips it and goes back to the pool, no permit is
/// lost or gained, and the server sees no extra session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_waiter_that_gave_up_leaves_no_permit_or_connection_behind() -> TestResult {
    let _slots = reserve(4).await;
    let Some(capped) = capped_at_one("tp_share_gave_up", &["near", "other"]).await? else {
        return Ok(());
    };
    let (registry, server, tag) = (&capped.registry, &capped.server, &capped.tag);

    let held = registry.get(&tenant("near")).await.expect("near");
    let gave_up = registry
        .get(&tenant("near"))
        .await
        .expect_err("over its share until the deadline");
    assert!(matches!(gave_up, Error::Exhausted { .. }), "{gave_up:?}");
    drop(held);
    let pool = registry.stats().pools[0].clone();
    assert_eq!(pool.in_use, 0, "the return went back to the pool: {pool:?}");
    assert_eq!(pool.idle, pool.size, "{pool:?}");
    assert!(
        server.count(tag).await? <= 2,
        "no session beyond the pool's two"
    );

    exactly_one_checkout_for(registry, "near").await;
    assert!(server.count(tag).await? <= 2);
    Ok(())
}
