//! Schema per tenant on MySQL: a database per tenant on one server, reached through one shared
//! pool whose connections switch with `USE`. Every checkout is on the tenant's database, also
//! for prepared statements (which MySQL binds to the database current when they were
//! prepared), and one tenant cannot starve the others of the shared pool.

use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use diesel::{QueryDsl, QueryableByName};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use tenantpool_testkit::MySqlServer;

use crate::common::{registry, settings, tenant, Fixture, TestResult};
use crate::twins::{twins, Dialect};
use crate::{connection_id, text, My, MySql};

twins!(MySql, schema, threads = 2:
    a_connection_whose_schema_switch_was_cancelled_is_never_trusted_to_be_on_a_schema,
    user_code_that_changes_the_schema_must_discard_and_then_nobody_inherits_it,
    one_noisy_tenant_cannot_take_more_than_its_share_of_a_shared_pool,
    a_missing_schema_is_a_typed_error_unless_the_target_creates_it,
);
twins!(MySql, schema, threads = 4:
    interleaved_schema_tenants_only_ever_see_their_own_schema_and_rows,
);

diesel::table! {
    item (id) {
        id -> Integer,
        owner -> Text,
    }
}

#[derive(QueryableByName, Debug)]
struct Owner {
    #[diesel(sql_type = Text)]
    owner: String,
}

/// `SELECT owner FROM item WHERE id = 1` as a DSL query: prepared, and cached by its type
/// when the connection's statement cache is on.
async fn owner_by_dsl(conn: &mut AsyncMysqlConnection) -> diesel::QueryResult<String> {
    item::table
        .select(item::owner)
        .filter(diesel::ExpressionMethods::eq(item::id, 1))
        .first(conn)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_on_one_shared_connection_never_resolve_another_tenants_table(
) -> TestResult {
    const ITERATIONS: usize = 300;
    let Some(t) = Fixture::<MySqlServer>::start("tp_schema_stmt", 4).await? else {
        return Ok(());
    };
    let schemas = MySql::schemas(&t, "tp_mstmt", &["red", "blue", "green"]).await?;
    let tenants = &schemas.tenants;

    // The hazard this test guards against, shown on a plain connection with diesel-async's
    // default statement cache: a cached statement prepared on one database, reused after
    // `USE`. (`sql_query` is never cached by diesel; DSL queries are, by their type.)
    {
        let mut plain = AsyncMysqlConnection::establish(&t.url(&tenants[0].1))
            .await
            .expect("plain connection");
        let first = owner_by_dsl(&mut plain).await.expect("first read");
        plain
            .batch_execute(&format!("USE `{}`", tenants[1].1))
            .await
            .expect("USE");
        let after_use = owner_by_dsl(&mut plain).await.expect("read after USE");
        let stale = after_use == tenants[0].1;
        eprintln!(
            "control: a cached statement read {first:?} then, after USE {}, {after_use:?}{}",
            tenants[1].1,
            if stale {
                " (stale: the server keeps a prepared statement on its database)"
            } else {
                " (this server re-resolves prepared statements)"
            }
        );
    }
    t.wait_for_zero(Duration::from_secs(5)).await?;

    // One connection only: every checkout below reuses it, for another tenant each time.
    let registry = registry::<My>(settings(2, 1), schemas.directory());
    let mut first_id = None;
    for i in 0..ITERATIONS {
        let (key, db) = &tenants[(i * 7 + i / 3) % tenants.len()];
        let mut conn = registry.get(&tenant(key)).await.expect("checkout");
        let id = connection_id(&mut conn).await;
        assert_eq!(
            *first_id.get_or_insert(id),
            id,
            "iteration {i}: another connection"
        );

        // A query without binds: prepared, and cached by its SQL when caching is on.
        let by_sql: Vec<Owner> = diesel::sql_query("SELECT owner FROM item")
            .load(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(by_sql.len(), 1, "iteration {i}");
        assert_eq!(
            &by_sql[0].owner, db,
            "iteration {i}: {key} read through a stale statement"
        );

        // A query with a bind parameter.
        let bound: Owner = diesel::sql_query("SELECT owner FROM item WHERE id = ?")
            .bind::<Integer, _>(1)
            .get_result(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(
            &bound.owner, db,
            "iteration {i}: {key} read through a stale bound statement"
        );

        // A DSL query: cached by its type when caching is on.
        let dsl = owner_by_dsl(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(
            &dsl, db,
            "iteration {i}: {key} read through a stale DSL statement"
        );

        assert_eq!(
            &text(&mut conn, "SELECT DATABASE() AS value").await,
            db,
            "iteration {i}"
        );
    }
    let c = registry.stats().counters;
    assert_eq!(
        c.connections_created, 1,
        "the test must reuse one connection"
    );
    assert!(
        c.schema_switches >= ITERATIONS as u64 / 2,
        "the connection did not go back and forth between tenants: {} switches",
        c.schema_switches
    );
    assert_eq!(t.count().await?, 1);
    eprintln!(
        "FIGURES mysql_prepared_isolation: iterations={ITERATIONS} schema_switches={}",
        c.schema_switches
    );
    Ok(())
}
