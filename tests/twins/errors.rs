//! Every path out of a handler gives its connection back clean (no row lock left, no open
//! transaction), and bad targets give typed errors without leaving anything cached.

use std::time::Duration;

use diesel_async::{AsyncConnection, TransactionManager};
use tenantpool::{DatabaseUrl, Error, ErrorKind, Registry, StaticDirectory, TenantTarget};
use tenantpool_testkit::Database;

use super::Dialect;
use crate::common::{databases, diesel_transaction_open, one_tenant, registry, settings, tenant};
use crate::common::{wait_until, Fixture, TestResult, TestServer};

/// After a handler left by `path`: the row lock is free, no session of `tag` is inside a
/// transaction, and the next checkout is outside any transaction and can take the lock itself.
pub(super) async fn assert_clean_after<D: Dialect>(
    registry: &Registry<D::Conn>,
    t: &Fixture<D::Server>,
    db: &str,
    path: &str,
) -> TestResult {
    assert!(
        t.server
            .can_lock(
                db,
                "SELECT * FROM lockme WHERE id = 1 FOR UPDATE",
                Duration::from_secs(3)
            )
            .await?,
        "{path}: the row lock is still held"
    );
    // A discarded session frees its locks as it exits, a moment before the server stops
    // listing it: wait for the listing, within a bound.
    let (in_transaction, waited) = wait_until(
        Duration::from_secs(3),
        || t.server.count_in_transaction(&t.tag),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(
        in_transaction?, 0,
        "{path}: a session is still inside a transaction on the server after {waited:?}"
    );
    let mut next = registry
        .get(&tenant("locker"))
        .await
        .expect("next checkout");
    assert!(
        !D::in_transaction(&mut next).await,
        "{path}: the next checkout is inside a transaction"
    );
    assert!(
        !diesel_transaction_open(&mut *next),
        "{path}: the next checkout has an open diesel transaction"
    );
    // And it works: it can take the lock itself, and give it back.
    next.transaction::<(), diesel::result::Error, _>(async |conn| {
        D::execute(conn, D::LOCK_ROW).await?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{path}: the next checkout cannot lock the row: {e}"));
    Ok(())
}

/// A handler that returns an error from inside a transaction holding the row lock.
async fn failing_handler<D: Dialect>(
    registry: &Registry<D::Conn>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = registry.get(&tenant("locker")).await?;
    conn.transaction::<(), diesel::result::Error, _>(async |conn| {
        D::execute(conn, D::LOCK_ROW).await?;
        D::execute(conn, "SELECT no_such_column FROM lockme").await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// A throwaway database with the `lockme` table, and a registry (budget 3, pool 2) whose
/// tenant `locker` is on it.
pub(super) async fn locker<D: Dialect>(
    t: &Fixture<D::Server>,
    prefix: &str,
) -> Result<(Database, Registry<D::Conn>), tenantpool_testkit::Error> {
    let db = D::lock_table(&t.server, prefix).await?;
    let registry = registry::<D::Conn>(settings(3, 2), databases(t, &[("locker", db.name())]));
    Ok((db, registry))
}

/// A handler cancelled by a timeout while the server runs a long statement inside the
/// handler's transaction, which holds the row lock. Whether the timeout fired.
async fn cancelled_mid_statement<D: Dialect>(registry: &Registry<D::Conn>) -> bool {
    tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("locker")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            D::execute(conn, D::LOCK_ROW).await?;
            D::execute(conn, &D::sleep(60)).await?;
            Ok(())
        })
        .await
    })
    .await
    .is_err()
}

pub async fn every_exit_from_a_handler_releases_its_row_lock_and_leaves_no_open_transaction<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_exits", 6).await? else {
        return Ok(());
    };
    let (db, registry) = locker::<D>(&t, "tp_exits").await?;
    let db = db.name();

    // 1. A handler that returns an error from inside a transaction.
    assert!(failing_handler::<D>(&registry).await.is_err());
    assert_clean_after::<D>(&registry, &t, db, "handler error").await?;

    // 2. A handler that panics while holding the lock in a transaction it opened by hand.
    let r = registry.clone();
    let panicked = tokio::spawn(async move {
        let mut conn = r.get(&tenant("locker")).await.expect("checkout");
        type Manager<D> = <<D as Dialect>::Conn as AsyncConnection>::TransactionManager;
        <Manager<D> as TransactionManager<D::Conn>>::begin_transaction(&mut *conn)
            .await
            .expect("begin");
        D::execute(&mut conn, D::LOCK_ROW).await.expect("lock");
        panic!("handler panicked while holding a row lock");
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    assert_clean_after::<D>(&registry, &t, db, "panic").await?;
    assert!(
        registry.stats().counters.discarded_dirty >= 1,
        "the panicking handler's connection was reused"
    );

    // 3. A future cancelled by a timeout while its transaction holds the lock and the client
    //    waits inside it.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("locker")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            D::execute(conn, D::LOCK_ROW).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    assert_clean_after::<D>(&registry, &t, db, "cancelled while idle in transaction").await?;

    // 4. Cancelled while the server is busy inside the transaction: the abandoned statement is
    //    stopped on the server, so the lock goes now, not when the sleep would have ended.
    assert!(
        cancelled_mid_statement::<D>(&registry).await,
        "the timeout should have fired"
    );
    assert_clean_after::<D>(&registry, &t, db, "cancelled mid-statement").await?;

    let stats = registry.stats();
    assert!(
        stats.counters.discarded_dirty >= 3,
        "dirty connections discarded: {}",
        stats.counters.discarded_dirty
    );
    let budget = &stats.budgets[0];
    assert!(budget.open <= budget.limit);
    assert!(t.count().await? <= 2, "more connections than max_size");
    Ok(())
}

pub async fn a_handler_cancelled_mid_statement_releases_its_row_lock_now_not_when_the_statement_ends<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_mid_stmt", 6).await? else {
        return Ok(());
    };
    let (db, registry) = locker::<D>(&t, "tp_mid_statement").await?;
    let db = db.name();

    // Cancelled while the server is busy inside the transaction: the abandoned statement must
    // be stopped on the server, so the lock goes now, not when the sleep would have ended.
    assert!(
        cancelled_mid_statement::<D>(&registry).await,
        "the timeout should have fired"
    );
    assert_clean_after::<D>(&registry, &t, db, "cancelled mid-statement").await?;
    assert_eq!(
        t.server.count_running(&t.tag, D::SLEEP_PREFIX).await?,
        0,
        "the abandoned statement still runs on the server"
    );
    Ok(())
}

pub async fn a_statement_abandoned_outside_a_transaction_is_stopped_and_nobody_queues_behind_it<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_abandoned", 5).await? else {
        return Ok(());
    };
    // One connection only: every checkout below reuses it (or a replacement).
    let (_db, registry) =
        one_tenant::<D::Conn, _>(&t, "tp_abandoned_stmt", "s", settings(3, 1)).await?;
    let abandoned = tokio::time::timeout(Duration::from_millis(200), async {
        let mut conn = registry.get(&tenant("s")).await.expect("checkout");
        D::execute(&mut conn, &D::sleep(30)).await
    })
    .await;
    assert!(abandoned.is_err(), "the timeout should have fired");
    // The one-connection pool serves the next request at once, not after the sleep.
    let mut next = tokio::time::timeout(Duration::from_secs(10), registry.get(&tenant("s")))
        .await
        .expect("the next checkout queued behind the abandoned statement")
        .expect("checkout");
    assert_eq!(D::text(&mut next, "SELECT 'free' AS value").await, "free");
    drop(next);
    // The server stopped the statement.
    let (sleeping, _) = wait_until(
        Duration::from_secs(5),
        || t.server.count_running(&t.tag, D::SLEEP_PREFIX),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(sleeping?, 0, "the abandoned sleep still runs on the server");
    assert_eq!(registry.stats().counters.discarded_dirty, 1);
    assert!(t.count().await? <= 1, "more connections than max_size");
    Ok(())
}

pub async fn unknown_tenants_missing_databases_and_dead_servers_give_typed_errors_and_cache_nothing<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_bad_targets", 3).await? else {
        return Ok(());
    };
    let absent = tenantpool_testkit::unique("tp_does_not_exist");
    let mut dir = StaticDirectory::new();
    dir.insert(
        tenant("nodb"),
        TenantTarget::database(DatabaseUrl::parse(&t.url(&absent)).expect("url")),
    );
    dir.insert(
        tenant("down"),
        TenantTarget::database(DatabaseUrl::parse(&D::dead_server_url(&t.tag)).expect("url")),
    );
    let mut s = settings(3, 2);
    s.backoff.initial = Duration::from_millis(100);
    s.backoff.unknown_tenant_ttl = Duration::from_millis(100);
    s.budget.server_backoff_initial = Duration::from_millis(50);
    let registry = registry::<D::Conn>(s, dir);

    let unknown = registry.get(&tenant("ghost")).await.expect_err("ghost");
    assert!(
        matches!(unknown, Error::UnknownTenant { .. }),
        "{unknown:?}"
    );
    assert_eq!(unknown.kind(), ErrorKind::NotFound);
    assert_eq!(unknown.kind().http_status(), 404);

    let missing = registry.get(&tenant("nodb")).await.expect_err("nodb");
    assert!(
        matches!(missing, Error::DatabaseMissing { .. }),
        "{missing:?}"
    );
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.kind().http_status(), 404);

    let down = registry.get(&tenant("down")).await.expect_err("down");
    assert!(matches!(down, Error::Unavailable { .. }), "{down:?}");
    assert_eq!(down.kind(), ErrorKind::Unavailable);
    assert_eq!(down.kind().http_status(), 503);
    assert!(down.retry_after().is_some());

    for t in ["ghost", "nodb", "down"] {
        assert!(!registry.is_cached(&tenant(t)), "{t} was cached");
    }
    registry.run_maintenance();
    let stats = registry.stats();
    assert!(
        stats.pools.is_empty(),
        "a failed start left a pool open: {:?}",
        stats.pools
    );
    assert_eq!(stats.cached_tenants, 0);
    assert_eq!(stats.counters.tenants_started, 0);
    assert_eq!(stats.counters.connections_created, 0);
    assert_eq!(t.count().await?, 0, "a failed start left a connection open");
    assert!(
        !t.server.database_exists(&absent).await?,
        "the missing database was created"
    );

    // The unknown key never reached a lookup: the directory's list answered it.
    assert!(stats.counters.unknown_rejected >= 1);
    // Within its backoff, the missing database is replayed without asking the directory.
    let lookups = stats.counters.directory_lookups;
    let connects = stats.counters.connect_failures;
    assert!(registry.get(&tenant("nodb")).await.is_err());
    assert!(registry.get(&tenant("ghost")).await.is_err());
    assert_eq!(
        registry.stats().counters.directory_lookups,
        lookups,
        "no backoff"
    );
    // The dead server fails fast for its backoff: no new connect attempt.
    let again = registry.get(&tenant("down")).await.expect_err("still down");
    assert!(matches!(again, Error::Unavailable { .. }), "{again:?}");
    assert_eq!(
        registry.stats().counters.connect_failures,
        connects,
        "no fail-fast"
    );
    // After the backoff, the missing database is tried again, and still creates nothing.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(registry.get(&tenant("nodb")).await.is_err());
    assert!(registry.get(&tenant("nodb")).await.is_err());
    assert!(registry.stats().counters.directory_lookups > lookups);
    assert!(registry.stats().pools.is_empty());
    assert_eq!(t.count().await?, 0);
    assert!(!t.server.database_exists(&absent).await?);
    Ok(())
}

/// Guards checked out from a registry are `Send`, so they can cross `.await`s in any task.
#[allow(dead_code)]
fn guards_are_send<C: tenantpool::Backend>(c: tenantpool::PooledConnection<C>) -> impl Send {
    c
}
