//! Every path out of a handler gives its connection back clean, and bad targets give typed
//! errors without leaving anything cached.

use std::time::Duration;

use diesel_async::AnsiTransactionManager;
use diesel_async::{AsyncConnection, RunQueryDsl, TransactionManager};
use tenantpool::{DatabaseUrl, Error, ErrorKind, StaticDirectory, TemplateDirectory, TenantTarget};

use crate::common::{self, pg};
use crate::{databases, in_transaction, registry, settings, tenant, text, Pg};

const LOCK_ROW: &str = "SELECT v::text AS value FROM lockme WHERE id = 1 FOR UPDATE";

async fn lock_table(admin: &pg::Admin, db: &str, app: &str) {
    admin.drop_database(db).await;
    admin.exec(&format!("CREATE DATABASE \"{db}\"")).await;
    let (client, conn) = tokio_postgres::connect(&pg::url(db, app), tokio_postgres::NoTls)
        .await
        .expect("setup connection");
    let driver = tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE lockme (id int PRIMARY KEY, v int); INSERT INTO lockme VALUES (1, 0);",
        )
        .await
        .expect("lock table");
    drop(client);
    let _ = driver.await;
}

/// True when another session can take the row lock within `wait`.
async fn lock_is_free(db: &str, wait: Duration) -> bool {
    let (client, conn) =
        tokio_postgres::connect(&pg::url(db, "tp_lock_probe"), tokio_postgres::NoTls)
            .await
            .expect("probe connection");
    tokio::spawn(conn);
    let sql = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; SELECT * FROM lockme WHERE id = 1 FOR UPDATE; ROLLBACK;",
        wait.as_millis()
    );
    client.batch_execute(&sql).await.is_ok()
}

/// No session of `app` is idle inside a transaction.
async fn no_open_transactions(admin: &pg::Admin, app: &str) -> bool {
    admin.count_in_transaction(app).await == 0
}

async fn assert_clean_after(
    registry: &tenantpool::Registry<Pg>,
    admin: &pg::Admin,
    db: &str,
    app: &str,
    path: &str,
) {
    assert!(
        lock_is_free(db, Duration::from_secs(3)).await,
        "{path}: the row lock is still held"
    );
    assert!(no_open_transactions(admin, app).await);
    let mut next = registry
        .get(&tenant("locker"))
        .await
        .expect("next checkout");
    assert!(
        !in_transaction(&mut next).await,
        "{path}: next checkout is inside a transaction"
    );
    let depth = <AnsiTransactionManager as TransactionManager<Pg>>::transaction_manager_status_mut(
        &mut *next,
    )
    .transaction_depth()
    .expect("transaction manager healthy");
    assert!(
        depth.is_none(),
        "{path}: next checkout has an open diesel transaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exit_from_a_handler_releases_its_locks_and_leaves_no_open_transaction() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_exits";
    let db = "tp_exits";
    lock_table(&admin, db, app).await;
    let registry = registry(settings(3, 2), databases(app, &[("locker", db)]));

    // 1. A handler that returns an error from inside a transaction.
    async fn failing_handler(
        registry: &tenantpool::Registry<Pg>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut conn = registry.get(&tenant("locker")).await?;
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            diesel::sql_query(LOCK_ROW).execute(conn).await?;
            diesel::sql_query("SELECT no_such_column FROM lockme")
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
    assert!(failing_handler(&registry).await.is_err());
    assert_clean_after(&registry, &admin, db, app, "handler error").await;

    // 2. A handler that panics while holding the lock in a transaction it opened by hand.
    let r = registry.clone();
    let panicked = tokio::spawn(async move {
        let mut conn = r.get(&tenant("locker")).await.expect("checkout");
        <AnsiTransactionManager as TransactionManager<Pg>>::begin_transaction(&mut *conn)
            .await
            .expect("begin");
        diesel::sql_query(LOCK_ROW)
            .execute(&mut conn)
            .await
            .expect("lock");
        panic!("handler panicked while holding a row lock");
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    assert_clean_after(&registry, &admin, db, app, "panic").await;
    let dirty_after_panic = registry.stats().counters.discarded_dirty;
    assert!(
        dirty_after_panic >= 1,
        "the panicking handler's connection was reused"
    );

    // 3. A future cancelled by a timeout while its transaction holds the lock and waits on the
    //    client side.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("locker")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            diesel::sql_query(LOCK_ROW).execute(conn).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    assert_clean_after(
        &registry,
        &admin,
        db,
        app,
        "cancelled while idle in transaction",
    )
    .await;

    // 4. Cancelled while the server is busy inside the transaction: the abandoned statement is
    //    cancelled on the server, so the lock goes now, not when pg_sleep would have ended.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("locker")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            diesel::sql_query(LOCK_ROW).execute(conn).await?;
            diesel::sql_query("SELECT pg_sleep(60)")
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err());
    assert_clean_after(&registry, &admin, db, app, "cancelled mid-statement").await;

    let c = registry.stats().counters;
    assert!(
        c.discarded_dirty >= 3,
        "dirty connections discarded: {}",
        c.discarded_dirty
    );
    let budget = &registry.stats().budgets[0];
    assert!(budget.open <= budget.limit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenants_missing_databases_and_dead_servers_give_typed_errors_and_cache_nothing() {
    let _slots = common::reserve(3).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_bad_targets";
    let mut dir = StaticDirectory::new();
    dir.insert(
        tenant("nodb"),
        TenantTarget::database(
            DatabaseUrl::parse(&pg::url("tp_does_not_exist", app)).expect("url"),
        ),
    );
    dir.insert(
        tenant("down"),
        TenantTarget::database(
            DatabaseUrl::parse(&format!(
                "postgres://postgres@127.0.0.1:1/x?application_name={app}"
            ))
            .expect("url"),
        ),
    );
    let mut s = settings(3, 2);
    s.backoff.initial = Duration::from_millis(100);
    s.backoff.unknown_tenant_ttl = Duration::from_millis(100);
    s.budget.server_backoff_initial = Duration::from_millis(50);
    let registry = registry(s, dir);

    let unknown = registry.get(&tenant("ghost")).await.expect_err("ghost");
    assert!(
        matches!(unknown, Error::UnknownTenant { .. }),
        "{unknown:?}"
    );
    assert_eq!(unknown.kind(), ErrorKind::NotFound);

    let missing = registry.get(&tenant("nodb")).await.expect_err("nodb");
    assert!(
        matches!(missing, Error::DatabaseMissing { .. }),
        "{missing:?}"
    );
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    let down = registry.get(&tenant("down")).await.expect_err("down");
    assert!(matches!(down, Error::Unavailable { .. }), "{down:?}");
    assert_eq!(down.kind(), ErrorKind::Unavailable);
    assert!(down.retry_after().is_some());

    for t in ["ghost", "nodb", "down"] {
        assert!(!registry.is_cached(&tenant(t)), "{t} was cached");
    }
    let stats = registry.stats();
    assert!(
        stats.pools.is_empty(),
        "a failed start left a pool open: {:?}",
        stats.pools
    );
    assert_eq!(stats.counters.tenants_started, 0);
    assert_eq!(admin.count(app).await, 0);

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
    // After the backoff, the missing database is tried again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(registry.get(&tenant("nodb")).await.is_err());
    assert!(registry.get(&tenant("nodb")).await.is_err());
    assert!(registry.stats().counters.directory_lookups > lookups);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_appears_in_errors_debug_output_or_stats() {
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_secrets";
    admin.ensure_databases(&["tp_secrets".to_string()]).await;
    const SECRET: &str = "hunter2-Sekr1t";
    let base = pg::base_url().replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{SECRET}@"),
        1,
    );
    assert!(
        base.contains(SECRET),
        "test URL must carry the password: {base}"
    );
    let good = format!("{base}/tp_secrets?application_name={app}");
    let template = format!("{base}/tp_nosuch_{{tenant}}?application_name={app}");
    let dir = tenantpool::ChainDirectory::new()
        .then(StaticDirectory::new().with(
            tenant("good"),
            TenantTarget::database(DatabaseUrl::parse(&good).expect("url")),
        ))
        .then(TemplateDirectory::database(&template).expect("template"));
    let registry = registry(settings(3, 2), dir);

    let mut conn = registry
        .get(&tenant("good"))
        .await
        .expect("trust auth ignores the password");
    text(&mut conn, "SELECT 'ok' AS value").await;
    let err = registry
        .get(&tenant("other"))
        .await
        .expect_err("missing database");
    let shown = format!(
        "{err} {err:?} {conn:?} {registry:?} {} {:?}",
        serde_json::to_string(&registry.stats()).expect("stats json"),
        registry.settings()
    );
    assert!(!shown.contains(SECRET), "the password leaked: {shown}");
    assert!(
        shown.contains("***"),
        "the password should be masked, not dropped: {shown}"
    );
}

/// Guards checked out from a registry are `Send`, so they can cross `.await`s in any task.
#[allow(dead_code)]
fn guards_are_send(c: tenantpool::PooledConnection<Pg>) -> impl Send {
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_abandoned_outside_a_transaction_is_stopped_and_nobody_queues_behind_it() {
    let _slots = common::reserve(5).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_abandoned_stmt";
    admin
        .ensure_databases(&["tp_abandoned_stmt".to_string()])
        .await;
    let registry = registry(
        settings(3, 1),
        databases(app, &[("s", "tp_abandoned_stmt")]),
    );
    let abandoned = tokio::time::timeout(Duration::from_millis(200), async {
        let mut conn = registry.get(&tenant("s")).await.expect("checkout");
        diesel::sql_query("SELECT pg_sleep(30)")
            .execute(&mut conn)
            .await
    })
    .await;
    assert!(abandoned.is_err(), "the timeout should have fired");
    // The one-connection pool serves the next request at once, not after the sleep.
    let mut next = tokio::time::timeout(Duration::from_secs(10), registry.get(&tenant("s")))
        .await
        .expect("the next checkout queued behind the abandoned statement")
        .expect("checkout");
    assert_eq!(text(&mut next, "SELECT 'free' AS value").await, "free");
    drop(next);
    // The server stopped the statement.
    let (sleeping, _) = common::wait_until(
        Duration::from_secs(5),
        || admin.count_running(app, "SELECT pg_sleep(30)"),
        |n| *n == 0,
    )
    .await;
    assert_eq!(
        sleeping, 0,
        "the abandoned pg_sleep still runs on the server"
    );
    assert_eq!(registry.stats().counters.discarded_dirty, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_use_of_a_connection_never_marks_it_dirty() {
    use diesel_async::SimpleAsyncConnection;
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_no_false_dirty";
    admin
        .ensure_databases(&["tp_no_false_dirty".to_string()])
        .await;
    let registry = registry(
        settings(2, 1),
        databases(app, &[("n", "tp_no_false_dirty")]),
    );
    for round in 0..5 {
        let mut conn = registry.get(&tenant("n")).await.expect("checkout");
        conn.batch_execute("CREATE TABLE IF NOT EXISTS t (x int); DELETE FROM t; INSERT INTO t VALUES (1), (2), (3);")
            .await
            .expect("batch");
        let rows: Vec<crate::Int> = diesel::sql_query("SELECT x AS n FROM t ORDER BY x")
            .load(&mut conn)
            .await
            .expect("load");
        assert_eq!(rows.len(), 3);
        let first: crate::Int = diesel::sql_query("SELECT x AS n FROM t ORDER BY x")
            .get_result(&mut conn)
            .await
            .expect("first row of three");
        assert_eq!(first.n, 1);
        assert!(diesel::sql_query("SELECT no_such_column FROM t")
            .execute(&mut conn)
            .await
            .is_err());
        conn.transaction::<_, diesel::result::Error, _>(async |c| {
            diesel::sql_query("UPDATE t SET x = x + 1")
                .execute(c)
                .await?;
            Ok(())
        })
        .await
        .expect("transaction");
        let _ = conn
            .transaction::<(), diesel::result::Error, _>(async |c| {
                diesel::sql_query("UPDATE t SET x = x + 1")
                    .execute(c)
                    .await?;
                Err(diesel::result::Error::RollbackTransaction)
            })
            .await;
        assert!(!conn.is_lost(), "round {round}");
    }
    let c = registry.stats().counters;
    assert_eq!(c.connections_created, 1, "a clean connection was replaced");
    assert_eq!(c.discarded_dirty, 0);
    assert_eq!(c.discarded_broken, 0);
}
