//! A SQLite call whose future is dropped on a current-thread runtime (an actix worker) does
//! not panic, and its connection is never handed to the next request in a half-done state.

use std::time::Duration;

use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use tenantpool::{Backend, TemplateDirectory};

use crate::{
    data_dir, diesel_transaction_open, in_transaction, registry, settings, tenant, text, Lite, Num,
    SLOW_QUERY,
};

/// The next checkout of `key` works, is not in a transaction (for diesel nor for SQLite), and
/// can write.
async fn assert_next_checkout_clean(registry: &tenantpool::Registry<Lite>, key: &str, what: &str) {
    let mut next = registry
        .get(&tenant(key))
        .await
        .unwrap_or_else(|e| panic!("{what}: the next checkout failed: {e}"));
    assert!(!Backend::is_dirty(&mut *next), "{what}: handed out dirty");
    assert!(
        !diesel_transaction_open(&mut next),
        "{what}: the next checkout has an open diesel transaction"
    );
    assert!(
        !in_transaction(&mut next).await,
        "{what}: the next checkout is inside a SQLite transaction"
    );
    next.transaction::<(), diesel::result::Error, _>(async |c| {
        diesel::sql_query("INSERT INTO item (owner) VALUES ('next')")
            .execute(c)
            .await?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: the next checkout cannot write: {e}"));
    assert_eq!(
        text(&mut next, "SELECT 'ok' AS value").await,
        "ok",
        "{what}"
    );
}

// The default flavor: a current-thread runtime, like an actix worker.
#[tokio::test]
async fn a_query_cancelled_on_a_current_thread_runtime_does_not_panic_and_the_next_checkout_is_clean(
) {
    let dir = data_dir("cancel_current_thread");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let directory = TemplateDirectory::database(&template)
        .expect("template")
        .allow([tenant("slow")])
        .creating_missing();
    // One connection: the checkout after each cancellation gets the same one or its
    // replacement.
    let registry = registry(settings(2, 1), directory);
    {
        let mut conn = registry.get(&tenant("slow")).await.expect("first checkout");
        conn.batch_execute("CREATE TABLE item (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)")
            .await
            .expect("schema");
    }

    // 1. Only the query future is dropped; the guard is dropped afterwards.
    let mut conn = registry.get(&tenant("slow")).await.expect("checkout");
    let cancelled = tokio::time::timeout(
        Duration::from_millis(10),
        diesel::sql_query(SLOW_QUERY).get_result::<Num>(&mut *conn),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the slow query finished within 10ms; make SLOW_QUERY slower"
    );
    drop(conn);
    let stats = registry.stats();
    let c = &stats.counters;
    let returned_clean = c.discarded_dirty == 0
        && c.connections_closed == 0
        && stats.pools.len() == 1
        && stats.pools[0].idle == 1;
    let discarded = c.discarded_dirty == 1 && c.connections_closed == 1;
    assert!(
        returned_clean || discarded,
        "the cancelled query's connection was neither returned clean nor discarded: {stats:?}"
    );
    assert_next_checkout_clean(&registry, "slow", "query future dropped").await;

    // 2. The whole handler future is dropped mid-query, guard included (a request timeout).
    let before = registry.stats().counters;
    let cancelled = tokio::time::timeout(Duration::from_millis(100), async {
        let mut conn = registry.get(&tenant("slow")).await.expect("checkout");
        diesel::sql_query(SLOW_QUERY)
            .get_result::<Num>(&mut *conn)
            .await
    })
    .await;
    assert!(cancelled.is_err(), "the slow query finished within 100ms");
    let stats = registry.stats();
    let c = &stats.counters;
    let returned_clean = c.discarded_dirty == before.discarded_dirty
        && c.connections_closed == before.connections_closed
        && stats.pools.len() == 1
        && stats.pools[0].idle == 1;
    let discarded = c.discarded_dirty == before.discarded_dirty + 1
        && c.connections_closed == before.connections_closed + 1;
    assert!(
        returned_clean || discarded,
        "the cancelled handler's connection was neither returned clean nor discarded: {stats:?}"
    );
    assert_next_checkout_clean(&registry, "slow", "handler future dropped").await;

    // 3. Cancelled inside a transaction, mid-statement: the connection must not come back
    //    with the transaction open.
    let before = registry.stats().counters;
    let cancelled = tokio::time::timeout(Duration::from_millis(200), async {
        let mut conn = registry.get(&tenant("slow")).await.expect("checkout");
        conn.transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query("INSERT INTO item (owner) VALUES ('cancelled')")
                .execute(c)
                .await?;
            diesel::sql_query(SLOW_QUERY).get_result::<Num>(c).await?;
            Ok(())
        })
        .await
    })
    .await;
    assert!(
        cancelled.is_err(),
        "the slow transaction finished within 200ms"
    );
    let c = registry.stats().counters;
    assert_eq!(
        c.discarded_dirty,
        before.discarded_dirty + 1,
        "a connection cancelled inside a transaction must be discarded"
    );
    assert_next_checkout_clean(&registry, "slow", "cancelled inside a transaction").await;
    let mut conn = registry.get(&tenant("slow")).await.expect("checkout");
    assert_eq!(
        text(
            &mut conn,
            "SELECT CAST(count(*) AS TEXT) AS value FROM item WHERE owner = 'cancelled'"
        )
        .await,
        "0",
        "the cancelled transaction's write was committed"
    );
}
