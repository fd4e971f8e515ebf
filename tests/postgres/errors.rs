//! Every path out of a handler gives its connection back clean, and bad targets give typed
//! errors without leaving anything cached.

use diesel_async::{AsyncConnection, RunQueryDsl};
use tenantpool::{DatabaseUrl, StaticDirectory, TemplateDirectory, TenantTarget};
use tenantpool_testkit::PgServer;

use crate::common::{one_tenant, registry, settings, tenant, Fixture, TestResult, TestServer};
use crate::twins::twins;
use crate::{text, Int, Pg, Postgres};

twins!(Postgres, errors, threads = 2:
    every_exit_from_a_handler_releases_its_row_lock_and_leaves_no_open_transaction,
    a_handler_cancelled_mid_statement_releases_its_row_lock_now_not_when_the_statement_ends,
    a_statement_abandoned_outside_a_transaction_is_stopped_and_nobody_queues_behind_it,
    unknown_tenants_missing_databases_and_dead_servers_give_typed_errors_and_cache_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_appears_in_errors_debug_output_or_stats() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_secrets", 4).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_secrets").await?;
    const SECRET: &str = "hunter2-Sekr1t";
    let base = t.server.base_url().replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{SECRET}@"),
        1,
    );
    assert!(
        base.contains(SECRET),
        "test URL must carry the password: {base}"
    );
    let tag = &t.tag;
    let good = format!("{base}/{}?application_name={tag}", db.name());
    let template = format!("{base}/tp_nosuch_{{tenant}}?application_name={tag}");
    let dir = tenantpool::ChainDirectory::new()
        .then(StaticDirectory::new().with(
            tenant("good"),
            TenantTarget::database(DatabaseUrl::parse(&good).expect("url")),
        ))
        .then(TemplateDirectory::database(&template).expect("template"));
    let registry = registry::<Pg>(settings(3, 2), dir);

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
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_use_of_a_connection_never_marks_it_dirty() -> TestResult {
    use diesel_async::SimpleAsyncConnection;
    let Some(t) = Fixture::<PgServer>::start("tp_no_false_dirty", 4).await? else {
        return Ok(());
    };
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_no_false_dirty", "n", settings(2, 1)).await?;
    for round in 0..5 {
        let mut conn = registry.get(&tenant("n")).await.expect("checkout");
        conn.batch_execute("CREATE TABLE IF NOT EXISTS t (x int); DELETE FROM t; INSERT INTO t VALUES (1), (2), (3);")
            .await
            .expect("batch");
        let rows: Vec<Int> = diesel::sql_query("SELECT x AS n FROM t ORDER BY x")
            .load(&mut conn)
            .await
            .expect("load");
        assert_eq!(rows.len(), 3);
        let first: Int = diesel::sql_query("SELECT x AS n FROM t ORDER BY x")
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
    Ok(())
}
