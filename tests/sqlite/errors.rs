//! Every path out of a handler leaves no write lock and no open transaction behind, and bad
//! targets give typed errors without creating files or caching anything.

use std::time::Duration;

use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager};
use tenantpool::{
    Backend, ConfigError, DatabaseUrl, Error, ErrorKind, SchemaName, StaticDirectory,
    TemplateDirectory, TenantTarget,
};

use crate::{
    data_dir, diesel_transaction_open, file, file_url, in_transaction, registry, settings, tenant,
    text, write_lock_is_free, Lite, Num, SLOW_QUERY,
};

const WRITE: &str = "UPDATE counter SET v = v + 1 WHERE id = 1";

async fn assert_clean_after(
    registry: &tenantpool::Registry<Lite>,
    db: &std::path::Path,
    path: &str,
) {
    assert!(
        write_lock_is_free(db, Duration::from_secs(2)).await,
        "{path}: another connection cannot take the write lock (BEGIN IMMEDIATE)"
    );
    let mut next = registry
        .get(&tenant("writer"))
        .await
        .unwrap_or_else(|e| panic!("{path}: the next checkout failed: {e}"));
    assert!(!Backend::is_dirty(&mut *next), "{path}: handed out dirty");
    assert!(
        !diesel_transaction_open(&mut next),
        "{path}: the next checkout has an open diesel transaction"
    );
    assert!(
        !in_transaction(&mut next).await,
        "{path}: the next checkout is inside a SQLite transaction"
    );
    next.transaction::<(), diesel::result::Error, _>(async |c| {
        diesel::sql_query(WRITE).execute(c).await?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{path}: the next checkout cannot write: {e}"));
}

/// The counter's value: committed writes only.
async fn counter(registry: &tenantpool::Registry<Lite>) -> String {
    let mut c = registry.get(&tenant("writer")).await.expect("checkout");
    text(
        &mut c,
        "SELECT CAST(v AS TEXT) AS value FROM counter WHERE id = 1",
    )
    .await
}

// A current-thread runtime, like an actix worker.
#[tokio::test]
async fn every_exit_from_a_handler_leaves_no_write_lock_and_no_open_transaction() {
    let dir = data_dir("exits");
    let db = file(&dir, "writer");
    let url = DatabaseUrl::parse(&file_url(&dir, "writer")).expect("url");
    let directory = StaticDirectory::new().with(
        tenant("writer"),
        TenantTarget::database(url).creating_missing(),
    );
    let registry = registry(settings(3, 2), directory);
    {
        let mut c = registry
            .get(&tenant("writer"))
            .await
            .expect("first checkout");
        c.batch_execute(
            "CREATE TABLE counter (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); \
             INSERT INTO counter VALUES (1, 0);",
        )
        .await
        .expect("schema");
    }

    // 1. A handler that returns an error from inside a transaction, after writing.
    async fn failing_handler(
        registry: &tenantpool::Registry<Lite>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut conn = registry.get(&tenant("writer")).await?;
        conn.transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query(WRITE).execute(c).await?;
            diesel::sql_query("SELECT no_such_column FROM counter")
                .execute(c)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
    assert!(failing_handler(&registry).await.is_err());
    assert_clean_after(&registry, &db, "handler error").await;
    assert_eq!(
        counter(&registry).await,
        "1",
        "the failed transaction was committed"
    );

    // 2. A handler that panics in a spawned task while holding the write lock in a
    //    transaction it opened by hand.
    let r = registry.clone();
    let panicked = tokio::spawn(async move {
        let mut conn = r.get(&tenant("writer")).await.expect("checkout");
        <<Lite as AsyncConnection>::TransactionManager as TransactionManager<Lite>>::begin_transaction(&mut *conn)
            .await
            .expect("begin");
        diesel::sql_query(WRITE)
            .execute(&mut *conn)
            .await
            .expect("write");
        panic!("handler panicked while holding the write lock");
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    assert_clean_after(&registry, &db, "panic").await;
    assert!(
        registry.stats().counters.discarded_dirty >= 1,
        "the panicking handler's connection was reused"
    );
    assert_eq!(
        counter(&registry).await,
        "2",
        "the panicked transaction was committed"
    );

    // 3. Cancelled by a timeout while the transaction holds the write lock and the handler
    //    waits inside it.
    let cancelled = tokio::time::timeout(Duration::from_millis(200), async {
        let mut conn = registry.get(&tenant("writer")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query(WRITE).execute(c).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    assert_clean_after(&registry, &db, "cancelled while idle in transaction").await;

    // 4. Cancelled mid-statement inside the transaction.
    let cancelled = tokio::time::timeout(Duration::from_millis(200), async {
        let mut conn = registry.get(&tenant("writer")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query(WRITE).execute(c).await?;
            diesel::sql_query(SLOW_QUERY).get_result::<Num>(c).await?;
            Ok(())
        })
        .await
    })
    .await;
    assert!(cancelled.is_err(), "the timeout should have fired");
    assert_clean_after(&registry, &db, "cancelled mid-statement").await;

    // Only the four writes of `assert_clean_after` were committed, none of the handlers'.
    assert_eq!(
        counter(&registry).await,
        "4",
        "a cancelled transaction was committed"
    );
    let stats = registry.stats();
    assert!(
        stats.counters.discarded_dirty >= 3,
        "dirty connections discarded: {}",
        stats.counters.discarded_dirty
    );
    assert!(stats.budgets[0].open <= stats.budgets[0].limit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_file_is_a_typed_404_and_is_created_only_when_the_target_says_so() {
    let dir = data_dir("missing_file");
    let absent = file(&dir, "absent");
    let fresh = dir.join("nested").join("fresh.db");
    let directory = StaticDirectory::new()
        .with(
            tenant("absent"),
            TenantTarget::database(DatabaseUrl::parse(&file_url(&dir, "absent")).expect("url")),
        )
        .with(
            tenant("fresh"),
            TenantTarget::database(
                DatabaseUrl::parse(&format!("sqlite://{}", fresh.display())).expect("url"),
            )
            .creating_missing(),
        );
    let registry = registry(settings(4, 2), directory);

    let err = registry
        .get(&tenant("absent"))
        .await
        .expect_err("no file, no create_missing");
    assert!(matches!(err, Error::DatabaseMissing { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.kind().http_status(), 404);
    assert!(!absent.exists(), "the missing file was created");
    assert!(!registry.is_cached(&tenant("absent")));
    let stats = registry.stats();
    assert!(stats.pools.is_empty(), "a failed start left a pool open");
    assert_eq!(stats.budgets.iter().map(|b| b.open).sum::<usize>(), 0);

    // Templates too: without `creating_missing` nothing is created.
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let templated = crate::registry(
        settings(4, 2),
        TemplateDirectory::database(&template).expect("template"),
    );
    let err = templated
        .get(&tenant("stranger"))
        .await
        .expect_err("no file");
    assert!(matches!(err, Error::DatabaseMissing { .. }), "{err:?}");
    assert!(
        !file(&dir, "stranger").exists(),
        "the template created the file"
    );

    let mut c = registry
        .get(&tenant("fresh"))
        .await
        .expect("created on first use");
    assert_eq!(text(&mut c, "SELECT 'here' AS value").await, "here");
    assert!(fresh.exists(), "the file was not created");
}

#[tokio::test]
async fn schema_isolation_is_rejected_for_sqlite_targets_with_a_typed_config_error() {
    let dir = data_dir("schema_rejected");
    let shared = file(&dir, "shared");
    let url = DatabaseUrl::parse(&file_url(&dir, "shared")).expect("url");
    let directory = StaticDirectory::new().with(
        tenant("acme"),
        TenantTarget::schema(url, SchemaName::parse("acme").expect("schema")).creating_missing(),
    );
    let registry = registry(settings(2, 2), directory);
    let err = registry
        .get(&tenant("acme"))
        .await
        .expect_err("SQLite has no schemas");
    assert!(
        matches!(err, Error::Config(ConfigError::Unsupported { .. })),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.kind().http_status(), 500);
    assert!(!registry.is_cached(&tenant("acme")));
    assert!(registry.stats().pools.is_empty());
    assert!(!shared.exists(), "a rejected target created its file");

    // A schema template over a SQLite URL fails the same way, for every tenant.
    let templated = crate::registry(
        settings(2, 2),
        TemplateDirectory::schema(&file_url(&dir, "shared"), "{tenant}")
            .expect("the template itself is well-formed")
            .allow([tenant("one"), tenant("two")])
            .creating_missing(),
    );
    for key in ["one", "two"] {
        let err = templated
            .get(&tenant(key))
            .await
            .expect_err("SQLite has no schemas");
        assert!(
            matches!(err, Error::Config(ConfigError::Unsupported { .. })),
            "{key}: {err:?}"
        );
        assert_eq!(err.kind().http_status(), 500);
    }
    assert!(templated.stats().pools.is_empty());
    assert!(!shared.exists(), "a rejected target created its file");
}
