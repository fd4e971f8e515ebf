//! Every path out of a handler gives its connection back clean (no InnoDB row lock left, no
//! open transaction), and bad targets give typed errors without leaving anything cached.

use std::time::Duration;

use diesel_async::{AnsiTransactionManager, AsyncConnection, RunQueryDsl, TransactionManager};
use tenantpool::{
    ChainDirectory, DatabaseUrl, Error, ErrorKind, StaticDirectory, TemplateDirectory, TenantTarget,
};

use crate::common::{self, my};
use crate::{
    databases, diesel_transaction_open, in_transaction, registry, settings, tenant, text, My,
};

const LOCK_ROW: &str = "SELECT CAST(v AS CHAR) AS value FROM lockme WHERE id = 1 FOR UPDATE";

async fn lock_table(admin: &my::Admin, db: &str) {
    admin
        .exec(&format!(
            "DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`; \
             CREATE TABLE `{db}`.lockme (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; \
             INSERT INTO `{db}`.lockme VALUES (1, 0);"
        ))
        .await;
}

async fn assert_clean_after(
    registry: &tenantpool::Registry<My>,
    admin: &my::Admin,
    db: &str,
    user: &str,
    path: &str,
) {
    assert!(
        my::row_lock_is_free(db, "lockme", 3).await,
        "{path}: the row lock is still held"
    );
    assert_eq!(
        admin.count_in_transaction(user).await,
        0,
        "{path}: a session is still inside a transaction on the server"
    );
    let mut next = registry
        .get(&tenant("locker"))
        .await
        .expect("next checkout");
    assert!(
        !in_transaction(&mut next).await,
        "{path}: the next checkout is inside a transaction"
    );
    assert!(
        !diesel_transaction_open(&mut next),
        "{path}: the next checkout has an open diesel transaction"
    );
    // And it works: it can take the lock itself, and give it back.
    next.transaction::<(), diesel::result::Error, _>(async |conn| {
        diesel::sql_query(LOCK_ROW).execute(conn).await?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{path}: the next checkout cannot lock the row: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exit_from_a_handler_releases_its_row_lock_and_leaves_no_open_transaction() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_exits";
    let db = "tp_exits";
    admin.user(user).await;
    lock_table(&admin, db).await;
    let registry = registry(settings(3, 2), databases(user, &[("locker", db)]));

    // 1. A handler that returns an error from inside a transaction.
    async fn failing_handler(
        registry: &tenantpool::Registry<My>,
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
    assert_clean_after(&registry, &admin, db, user, "handler error").await;

    // 2. A handler that panics while holding the lock in a transaction it opened by hand.
    let r = registry.clone();
    let panicked = tokio::spawn(async move {
        let mut conn = r.get(&tenant("locker")).await.expect("checkout");
        <AnsiTransactionManager as TransactionManager<My>>::begin_transaction(&mut *conn)
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
    assert_clean_after(&registry, &admin, db, user, "panic").await;
    assert!(
        registry.stats().counters.discarded_dirty >= 1,
        "the panicking handler's connection was reused"
    );

    // 3. A future cancelled by a timeout while its transaction holds the lock and the client
    //    waits inside it.
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
        user,
        "cancelled while idle in transaction",
    )
    .await;

    let stats = registry.stats();
    assert!(
        stats.counters.discarded_dirty >= 2,
        "dirty connections discarded: {}",
        stats.counters.discarded_dirty
    );
    let budget = &stats.budgets[0];
    assert!(budget.open <= budget.limit);
    assert!(
        admin.count(user).await <= 2,
        "more connections than max_size"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenants_missing_databases_and_dead_servers_give_typed_errors_and_cache_nothing() {
    let _slots = common::reserve(3).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_bad_targets";
    admin.user(user).await;
    admin.drop_database("tp_does_not_exist").await;
    let mut dir = StaticDirectory::new();
    dir.insert(
        tenant("nodb"),
        TenantTarget::database(
            DatabaseUrl::parse(&my::url(user, Some("tp_does_not_exist"))).expect("url"),
        ),
    );
    dir.insert(
        tenant("down"),
        TenantTarget::database(
            DatabaseUrl::parse(&format!("mysql://{user}@127.0.0.1:1/x")).expect("url"),
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
    assert_eq!(
        admin.count(user).await,
        0,
        "a failed start left a connection open"
    );
    assert!(
        !admin.database_exists("tp_does_not_exist").await,
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
    assert!(registry.stats().counters.directory_lookups > lookups);
    assert!(registry.stats().pools.is_empty());
    assert_eq!(admin.count(user).await, 0);
    assert!(!admin.database_exists("tp_does_not_exist").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_appears_in_errors_debug_output_or_stats() {
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    const SECRET: &str = "hunter2-Sekr1t-my";
    const WRONG: &str = "wr0ng-Passw0rd-my";
    let user = "tp_secrets";
    admin.user_with_password(user, SECRET).await;
    admin
        .databases_with_items(&["tp_secrets".to_string()])
        .await;
    admin.drop_database("tp_nosuch_other").await;
    let with_password = |password: &str, db: &str| {
        my::url(user, Some(db)).replacen(
            &format!("mysql://{user}@"),
            &format!("mysql://{user}:{password}@"),
            1,
        )
    };
    let good = with_password(SECRET, "tp_secrets");
    let wrong = with_password(WRONG, "tp_secrets");
    let template = with_password(SECRET, "tp_nosuch_{tenant}");
    assert!(
        good.contains(SECRET),
        "the test URL must carry the password: {good}"
    );
    assert!(
        wrong.contains(WRONG),
        "the test URL must carry the password: {wrong}"
    );
    let dir = ChainDirectory::new()
        .then(
            StaticDirectory::new()
                .with(
                    tenant("good"),
                    TenantTarget::database(DatabaseUrl::parse(&good).expect("url")),
                )
                .with(
                    tenant("wrongpw"),
                    TenantTarget::database(DatabaseUrl::parse(&wrong).expect("url")),
                ),
        )
        .then(TemplateDirectory::database(&template).expect("template"));
    let registry = registry(settings(3, 2), dir);

    let mut conn = registry
        .get(&tenant("good"))
        .await
        .expect("the right password");
    assert_eq!(
        text(&mut conn, "SELECT CURRENT_USER() AS value").await,
        format!("{user}@%")
    );
    let missing = registry
        .get(&tenant("other"))
        .await
        .expect_err("missing database");
    assert!(
        matches!(missing, Error::DatabaseMissing { .. }),
        "{missing:?}"
    );
    let denied = registry
        .get(&tenant("wrongpw"))
        .await
        .expect_err("a wrong password must fail");
    assert!(matches!(denied, Error::Unavailable { .. }), "{denied:?}");
    let shown = format!(
        "{missing} {missing:?} {denied} {denied:?} {conn:?} {registry:?} {} {:?}",
        serde_json::to_string(&registry.stats()).expect("stats json"),
        registry.settings()
    );
    assert!(!shown.contains(SECRET), "the password leaked: {shown}");
    assert!(!shown.contains(WRONG), "the wrong password leaked: {shown}");
    assert!(
        shown.contains("***"),
        "the password should be masked, not dropped: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cancelled_mid_statement_releases_its_row_lock_now_not_when_the_statement_ends() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_mid_statement";
    let db = "tp_mid_statement";
    admin.user(user).await;
    lock_table(&admin, db).await;
    let registry = registry(settings(3, 2), databases(user, &[("locker", db)]));

    // Cancelled while the server is busy inside the transaction: the abandoned statement must
    // be stopped on the server, so the lock goes now, not when SLEEP(60) would have ended.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("locker")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |conn| {
            diesel::sql_query(LOCK_ROW).execute(conn).await?;
            diesel::sql_query("SELECT SLEEP(60)").execute(conn).await?;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    assert_clean_after(&registry, &admin, db, user, "cancelled mid-statement").await;
    assert_eq!(
        admin.count_running(user, "SELECT SLEEP").await,
        0,
        "the abandoned statement still runs on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cancelled_outside_a_transaction_never_hands_a_half_read_connection_to_the_next_request(
) {
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_half_read";
    admin.user(user).await;
    admin
        .databases_with_items(&["tp_half_read".to_string()])
        .await;
    // One connection only: every checkout below reuses it (or a replacement).
    let registry = registry(
        settings(2, 1),
        databases(user, &[("reader", "tp_half_read")]),
    );

    // A long statement abandoned by its caller: the next request must get a connection that
    // answers its own query, and the abandoned statement must not keep running.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), async {
        let mut conn = registry.get(&tenant("reader")).await.expect("checkout");
        diesel::sql_query("SELECT SLEEP(30)")
            .execute(&mut conn)
            .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    let (running, _) = common::wait_until(
        Duration::from_secs(3),
        || admin.count_running(user, "SELECT SLEEP"),
        |n| *n == 0,
    )
    .await;
    assert_eq!(
        running, 0,
        "the abandoned statement still runs on the server"
    );
    let mut next = registry
        .get(&tenant("reader"))
        .await
        .expect("next checkout");
    assert_eq!(text(&mut next, "SELECT 'next' AS value").await, "next");
    drop(next);

    // Short reads abandoned at every possible point, each followed by a request that checks it
    // gets the answer to its own query.
    for i in 0..150u64 {
        let attempt = tokio::time::timeout(Duration::from_micros(40 * (i % 13)), async {
            let mut conn = registry.get(&tenant("reader")).await.expect("checkout");
            diesel::sql_query("SELECT owner AS value FROM item")
                .load::<crate::Row>(&mut conn)
                .await
        })
        .await;
        drop(attempt);
        let mut conn = registry.get(&tenant("reader")).await.expect("checkout");
        let answer = diesel::sql_query("SELECT CONCAT('next-', ?) AS value")
            .bind::<diesel::sql_types::Text, _>(i.to_string())
            .get_result::<crate::Row>(&mut conn)
            .await
            .unwrap_or_else(|e| {
                panic!("iteration {i}: the next request got a broken connection: {e}")
            });
        assert_eq!(answer.value, format!("next-{i}"), "iteration {i}");
    }
    assert!(
        admin.count(user).await <= 1,
        "more connections than max_size"
    );
}

/// Guards checked out from a registry are `Send`, so they can cross `.await`s in any task.
#[allow(dead_code)]
fn guards_are_send(c: tenantpool::PooledConnection<My>) -> impl Send {
    c
}
