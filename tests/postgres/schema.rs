//! Schema per tenant: every checkout is on the tenant's schema, switching costs a round trip
//! only when the connection was on another schema, and one tenant cannot starve the others
//! of a shared pool.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use tenantpool::{
    DatabaseUrl, Error, SchemaName, StaticDirectory, TemplateDirectory, TenantTarget,
};

use crate::common::{self, pg};
use crate::{registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_schema_tenants_only_ever_see_their_own_schema_and_rows() {
    let _slots = common::reserve(7).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_schema_iso";
    let db = "tp_schema_iso";
    let keys: Vec<String> = (0..12).map(|i| format!("iso{i}")).collect();
    admin.database_with_schemas(db, &keys, app).await;
    admin.wait_for_zero(app, Duration::from_secs(5)).await;
    let dir = TemplateDirectory::schema(&pg::url(db, app), "{tenant}").expect("template");
    let registry = registry(settings(4, 4), dir);

    let mut tasks = Vec::new();
    for round in 0..40 {
        for key in &keys {
            let registry = registry.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = registry.get(&tenant(&key)).await.expect("checkout");
                let schema = text(&mut conn, "SELECT current_schema()::text AS value").await;
                assert_eq!(schema, key, "round {round}: ran on another tenant's schema");
                let owner = text(&mut conn, "SELECT owner AS value FROM item").await;
                assert_eq!(owner, key, "round {round}: read another tenant's row");
            }));
        }
    }
    let requests = tasks.len() as u64;
    for t in tasks {
        t.await.expect("request");
    }
    let c = registry.stats().counters;
    assert_eq!(c.checkouts, requests, "checkouts");
    assert!(
        c.schema_switches < requests,
        "a switch on every checkout ({} for {requests}): the skip never happened",
        c.schema_switches
    );
    eprintln!(
        "FIGURES schema_iso: requests={requests} schema_switches={}",
        c.schema_switches
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_schema_switch_was_cancelled_is_never_trusted_to_be_on_a_schema() {
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_schema_cancel";
    let db = "tp_schema_cancel";
    let keys = vec!["red".to_string(), "blue".to_string()];
    admin.database_with_schemas(db, &keys, app).await;
    let dir = TemplateDirectory::schema(&pg::url(db, app), "{tenant}").expect("template");
    let registry = registry(settings(2, 1), dir);
    // One connection only: every checkout below reuses it.
    for i in 0..200u64 {
        let key = if i % 2 == 0 { "red" } else { "blue" };
        // Cancel some checkouts at every possible point of the switch.
        let attempt = tokio::time::timeout(
            Duration::from_micros(50 * (i % 7)),
            registry.get(&tenant(key)),
        )
        .await;
        drop(attempt);
        let mut conn = registry.get(&tenant(key)).await.expect("checkout");
        assert_eq!(
            text(&mut conn, "SELECT owner AS value FROM item").await,
            key,
            "iteration {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_code_that_changes_the_search_path_must_discard_and_then_nobody_inherits_it() {
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_schema_contract";
    let db = "tp_schema_contract";
    let keys = vec!["left".to_string(), "right".to_string()];
    admin.database_with_schemas(db, &keys, app).await;
    let dir = TemplateDirectory::schema(&pg::url(db, app), "{tenant}").expect("template");
    let registry = registry(settings(2, 1), dir);

    let mut conn = registry.get(&tenant("left")).await.expect("left");
    conn.batch_execute("SET search_path TO \"right\"")
        .await
        .expect("user changes schema");
    conn.discard(); // the contract: session state the registry does not track → discard
    drop(conn);
    let mut conn = registry.get(&tenant("left")).await.expect("left again");
    assert_eq!(
        text(&mut conn, "SELECT owner AS value FROM item").await,
        "left"
    );
    assert_eq!(registry.stats().counters.discarded_dirty, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_noisy_tenant_cannot_take_more_than_its_share_of_a_shared_pool() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_fair_share";
    let db = "tp_fair_share";
    let keys = vec!["noisy".to_string(), "quiet".to_string()];
    admin.database_with_schemas(db, &keys, app).await;
    let mut s = settings(4, 4);
    s.pool.tenant_max_in_use = Some(2);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let url = DatabaseUrl::parse(&pg::url(db, app)).expect("url");
    let mut dir = StaticDirectory::new();
    for k in &keys {
        dir.insert(
            tenant(k),
            TenantTarget::schema(url.clone(), SchemaName::parse(k).expect("schema")),
        );
    }
    let registry = registry(s, dir);
    let noisy: Vec<_> = crate::hold(&registry, "noisy", 2).await;
    let third = registry
        .get(&tenant("noisy"))
        .await
        .expect_err("over its share");
    assert!(matches!(third, Error::Exhausted { .. }), "{third:?}");
    let mut quiet = registry
        .get(&tenant("quiet"))
        .await
        .expect("quiet still gets one");
    assert_eq!(
        text(&mut quiet, "SELECT owner AS value FROM item").await,
        "quiet"
    );
    drop(noisy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_schema_is_a_typed_error_unless_the_target_creates_it() {
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_schema_missing";
    let db = "tp_schema_missing";
    admin.database_with_schemas(db, &[], app).await;
    let url = DatabaseUrl::parse(&pg::url(db, app)).expect("url");
    let dir = StaticDirectory::new()
        .with(
            tenant("absent"),
            TenantTarget::schema(url.clone(), SchemaName::parse("absent").expect("s")),
        )
        .with(
            tenant("fresh"),
            TenantTarget::schema(url, SchemaName::parse("fresh").expect("s")).creating_missing(),
        );
    let registry = registry(settings(2, 2), dir);
    let err = registry
        .get(&tenant("absent"))
        .await
        .expect_err("absent schema");
    assert!(matches!(err, Error::SchemaMissing { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 404);
    let mut c = registry
        .get(&tenant("fresh"))
        .await
        .expect("created on first use");
    assert_eq!(
        text(&mut c, "SELECT current_schema()::text AS value").await,
        "fresh"
    );
}

/// The tenants whose queued checkouts were served, in order.
type ServedOrder = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

/// Checks out for `key` in a task of its own; once served, checks that the connection is on
/// `key`'s rows, records `key` in `order` and returns the server session's pid.
fn queue_checkout(
    registry: &tenantpool::Registry<crate::Pg>,
    order: &ServedOrder,
    key: &'static str,
) -> tokio::task::JoinHandle<i32> {
    let registry = registry.clone();
    let order = order.clone();
    tokio::spawn(async move {
        let mut c = registry.get(&tenant(key)).await.expect("queued checkout");
        assert_eq!(text(&mut c, "SELECT owner AS value FROM item").await, key);
        order.lock().expect("order").push(key);
        crate::backend_pid(&mut c).await
    })
}

/// What became of two checkouts queued on a one-connection shared pool while `near` holds the
/// connection: `far` queues first, `near` second; `pause` after they queued, `near` returns
/// its connection. The order they were served in, and the affinity hand-offs and schema
/// switches it took. `None` when PostgreSQL is unreachable outside CI.
async fn near_and_far_waiting(
    app: &str,
    affinity_max_delay: Duration,
    pause: Duration,
) -> Option<(Vec<&'static str>, u64, u64)> {
    let _slots = common::reserve(4).await;
    let admin = pg::admin().await?;
    let keys = vec!["near".to_string(), "far".to_string()];
    admin.database_with_schemas(app, &keys, app).await;
    let dir = TemplateDirectory::schema(&pg::url(app, app), "{tenant}").expect("template");
    let mut s = settings(2, 1);
    s.pool.affinity_max_delay = affinity_max_delay;
    let registry = registry(s, dir);
    drop(registry.get(&tenant("near")).await.expect("start near"));
    drop(registry.get(&tenant("far")).await.expect("start far"));

    let held = registry.get(&tenant("near")).await.expect("near");
    let order = ServedOrder::default();
    let waiter = |key| queue_checkout(&registry, &order, key);
    let pool_waiting = || async { registry.stats().pools[0].waiting };
    let far = waiter("far");
    common::wait_until(Duration::from_secs(5), pool_waiting, |w| *w >= 1).await;
    let near = waiter("near");
    common::wait_until(Duration::from_secs(5), pool_waiting, |w| *w >= 2).await;
    tokio::time::sleep(pause).await;
    let before = registry.stats().counters;
    drop(held);
    near.await.expect("near waiter");
    far.await.expect("far waiter");
    let after = registry.stats().counters;
    let order = order.lock().expect("order").clone();
    Some((
        order,
        after.affinity_handoffs - before.affinity_handoffs,
        after.schema_switches - before.schema_switches,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_connection_goes_first_to_a_checkout_waiting_for_its_schema() {
    // Affinity may pass `far` over for as long as the test takes.
    let Some((order, handoffs, switches)) = near_and_far_waiting(
        "tp_schema_affinity",
        Duration::from_secs(30),
        Duration::ZERO,
    )
    .await
    else {
        return;
    };
    assert_eq!(
        order,
        vec!["near", "far"],
        "the connection on `near` should go to the `near` waiter first"
    );
    assert_eq!(handoffs, 1);
    assert_eq!(switches, 1, "only `far` switches");
}

/// Affinity delays a waiter by at most `pool.affinity_max_delay`: past it, waiters are served
/// in order, and the returned connection goes to the older waiter of another schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_past_the_affinity_delay_is_served_before_a_later_one_on_the_schema() {
    // `far` has waited longer than the delay when the connection comes back.
    let Some((order, handoffs, switches)) = near_and_far_waiting(
        "tp_affinity_delay",
        Duration::from_millis(20),
        Duration::from_millis(50),
    )
    .await
    else {
        return;
    };
    assert_eq!(
        order,
        vec!["far", "near"],
        "`far` waited past the delay: it comes first, though the connection is on `near`"
    );
    assert_eq!(handoffs, 0);
    assert_eq!(switches, 2);
}

/// A shared pool of two connections over the schemas `keys` of database `app` (sessions
/// tagged `app`), each tenant capped at one connection, checkouts bounded by 500 ms, affinity
/// free to pass waiters over for as long as a test takes; every tenant started. `None` when
/// PostgreSQL is unreachable outside CI.
async fn capped_at_one(
    app: &str,
    keys: &[&str],
) -> Option<(pg::Admin, tenantpool::Registry<crate::Pg>)> {
    let admin = pg::admin().await?;
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    admin.database_with_schemas(app, &keys, app).await;
    let dir = TemplateDirectory::schema(&pg::url(app, app), "{tenant}").expect("template");
    let mut s = settings(3, 2);
    s.pool.tenant_max_in_use = Some(1);
    s.pool.checkout_timeout = Duration::from_millis(500);
    s.pool.affinity_max_delay = Duration::from_secs(30);
    let registry = registry(s, dir);
    for k in &keys {
        drop(registry.get(&tenant(k)).await.expect("start"));
    }
    Some((admin, registry))
}

/// `key`, capped at one connection, gets exactly one: a second checkout beside it runs into
/// its deadline, and one after it succeeds.
async fn exactly_one_checkout_for(registry: &tenantpool::Registry<crate::Pg>, key: &str) {
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
async fn a_tenant_at_its_share_gets_its_own_returned_connection_and_permit_without_a_switch() {
    let _slots = common::reserve(4).await;
    let Some((_admin, registry)) =
        capped_at_one("tp_share_handoff", &["near", "other", "far"]).await
    else {
        return;
    };

    // Both connections out: `near` is at its share of one, the pool is exhausted.
    let mut held = registry.get(&tenant("near")).await.expect("near");
    let held_pid = crate::backend_pid(&mut held).await;
    let other = registry.get(&tenant("other")).await.expect("other");
    let order = ServedOrder::default();
    let waiter = |key| queue_checkout(&registry, &order, key);
    let before = registry.stats().counters;
    // `far` queues first, on the exhausted pool; `near` second, on its share.
    let far = waiter("far");
    common::wait_until(
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
    exactly_one_checkout_for(&registry, "near").await;
}

/// A checkout that waited for its tenant's share and gave up (its deadline passed) leaves
/// nothing behind: the tenant's next return skips it and goes back to the pool, no permit is
/// lost or gained, and the server sees no extra session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_waiter_that_gave_up_leaves_no_permit_or_connection_behind() {
    let _slots = common::reserve(4).await;
    let app = "tp_share_gave_up";
    let Some((admin, registry)) = capped_at_one(app, &["near", "other"]).await else {
        return;
    };

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
        admin.count(app).await <= 2,
        "no session beyond the pool's two"
    );

    exactly_one_checkout_for(&registry, "near").await;
    assert!(admin.count(app).await <= 2);
}
