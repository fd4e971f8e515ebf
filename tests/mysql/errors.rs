//! Every path out of a handler gives its connection back clean (no InnoDB row lock left, no
//! open transaction), and bad targets give typed errors without leaving anything cached.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use tenantpool::{
    ChainDirectory, DatabaseUrl, Error, StaticDirectory, TemplateDirectory, TenantTarget,
};
use tenantpool_testkit::MySqlServer;

use crate::common::{databases, registry, reserve, settings, tenant, wait_until, Fixture};
use crate::common::{TestResult, TestServer};
use crate::twins::twins;
use crate::{databases_with_items, text, My, MySql, Row};

twins!(MySql, errors, threads = 2:
    every_exit_from_a_handler_releases_its_row_lock_and_leaves_no_open_transaction,
    a_handler_cancelled_mid_statement_releases_its_row_lock_now_not_when_the_statement_ends,
    a_statement_abandoned_outside_a_transaction_is_stopped_and_nobody_queues_behind_it,
    unknown_tenants_missing_databases_and_dead_servers_give_typed_errors_and_cache_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_appears_in_errors_debug_output_or_stats() -> TestResult {
    let _slots = reserve(4).await;
    let Some(server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    const SECRET: &str = "hunter2-Sekr1t-my";
    const WRONG: &str = "wr0ng-Passw0rd-my";
    let user = server.tag_with_password("tp_secrets", SECRET).await?;
    let dbs = databases_with_items(&server, "tp_secrets", &["good"]).await?;
    let with_password = |password: &str, db: &str| {
        server.url(db, &user).replacen(
            &format!("mysql://{user}@"),
            &format!("mysql://{user}:{password}@"),
            1,
        )
    };
    let good = with_password(SECRET, &dbs.name("good"));
    let wrong = with_password(WRONG, &dbs.name("good"));
    // `other` has no database: `<prefix>_nosuch_other`.
    let template = with_password(SECRET, &dbs.name("nosuch_{tenant}"));
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
    let registry = registry::<My>(settings(3, 2), dir);

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
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_cancelled_outside_a_transaction_never_hands_a_half_read_connection_to_the_next_request(
) -> TestResult {
    let Some(t) = Fixture::<MySqlServer>::start("tp_half_read", 4).await? else {
        return Ok(());
    };
    let dbs = databases_with_items(&t.server, "tp_half_read", &["reader"]).await?;
    // One connection only: every checkout below reuses it (or a replacement).
    let reader = dbs.name("reader");
    let registry = registry::<My>(settings(2, 1), databases(&t, &[("reader", &reader)]));

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
    let (running, _) = wait_until(
        Duration::from_secs(3),
        || t.server.count_running(&t.tag, "SELECT SLEEP"),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(
        running?, 0,
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
                .load::<Row>(&mut conn)
                .await
        })
        .await;
        drop(attempt);
        let mut conn = registry.get(&tenant("reader")).await.expect("checkout");
        let answer = diesel::sql_query("SELECT CONCAT('next-', ?) AS value")
            .bind::<diesel::sql_types::Text, _>(i.to_string())
            .get_result::<Row>(&mut conn)
            .await
            .unwrap_or_else(|e| {
                panic!("iteration {i}: the next request got a broken connection: {e}")
            });
        assert_eq!(answer.value, format!("next-{i}"), "iteration {i}");
    }
    // A discarded connection's socket is closed at once, but the server lists its session until
    // it notices: wait for the count to settle before holding it to max_size.
    let (count, _) = wait_until(
        Duration::from_secs(3),
        || t.count(),
        |n| matches!(n, Ok(c) if *c <= 1),
    )
    .await;
    assert!(count? <= 1, "more connections than max_size");
    Ok(())
}
