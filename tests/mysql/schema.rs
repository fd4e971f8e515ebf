//! Schema per tenant on MySQL: a database per tenant on one server, reached through one shared
//! pool whose connections switch with `USE`. Every checkout is on the tenant's database, also
//! for prepared statements (which MySQL binds to the database current when they were
//! prepared), and one tenant cannot starve the others of the shared pool.

use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use diesel::{QueryDsl, QueryableByName};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use tenantpool::{DatabaseUrl, Error, SchemaName, StaticDirectory, TenantTarget};

use crate::common::{self, my};
use crate::{connection_id, registry, settings, tenant, text};

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

/// A static directory of schema-mode tenants: each `(tenant, database)` on one shared URL.
fn schemas(user: &str, pairs: &[(String, String)]) -> StaticDirectory {
    let url = DatabaseUrl::parse(&my::url(user, None)).expect("url");
    let mut dir = StaticDirectory::new();
    for (key, db) in pairs {
        let schema = SchemaName::parse(db).expect("schema name");
        dir.insert(tenant(key), TenantTarget::schema(url.clone(), schema));
    }
    dir
}

/// `(tenant, database)` pairs with a per-test database prefix.
fn pairs(prefix: &str, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| (k.to_string(), format!("{prefix}_{k}")))
        .collect()
}

fn dbs(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(_, db)| db.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_schema_tenants_only_ever_see_their_own_database_and_rows() {
    let _slots = common::reserve(7).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_schema_iso";
    admin.user(user).await;
    let keys: Vec<String> = (0..12).map(|i| format!("iso{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let tenants = pairs("tp_miso", &keys);
    admin.databases_with_items(&dbs(&tenants)).await;
    let registry = registry(settings(4, 4), schemas(user, &tenants));
    let sampler = my::sampler(user).await;

    let mut tasks = Vec::new();
    for round in 0..40 {
        for (key, db) in &tenants {
            let registry = registry.clone();
            let (key, db) = (key.clone(), db.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = registry.get(&tenant(&key)).await.expect("checkout");
                let current = text(&mut conn, "SELECT DATABASE() AS value").await;
                assert_eq!(
                    current, db,
                    "round {round}: {key} ran on another tenant's database"
                );
                let owner = text(&mut conn, "SELECT owner AS value FROM item").await;
                assert_eq!(owner, db, "round {round}: {key} read another tenant's row");
            }));
        }
    }
    let requests = tasks.len() as u64;
    for t in tasks {
        t.await.expect("request");
    }
    let (peak, _) = sampler.finish().await;
    let c = registry.stats().counters;
    assert_eq!(c.checkouts, requests, "checkouts");
    assert_eq!(c.pools_created, 1, "schema tenants must share one pool");
    assert!(peak <= 4, "peak {peak} server connections > max_size 4");
    assert!(
        c.schema_switches < requests,
        "a switch on every checkout ({} for {requests}): the skip never happened",
        c.schema_switches
    );
    eprintln!(
        "FIGURES mysql_schema_iso: requests={requests} schema_switches={} peak_server={peak}",
        c.schema_switches
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_on_one_shared_connection_never_resolve_another_tenants_table() {
    const ITERATIONS: usize = 300;
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_schema_stmt";
    admin.user(user).await;
    let tenants = pairs("tp_mstmt", &["red", "blue", "green"]);
    admin.databases_with_items(&dbs(&tenants)).await;

    // The hazard this test guards against, shown on a plain connection with diesel-async's
    // default statement cache: a cached statement prepared on one database, reused after
    // `USE`. (`sql_query` is never cached by diesel; DSL queries are, by their type.)
    {
        let mut plain = AsyncMysqlConnection::establish(&my::url(user, Some(&tenants[0].1)))
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
    admin.wait_for_zero(user, Duration::from_secs(5)).await;

    // One connection only: every checkout below reuses it, for another tenant each time.
    let registry = registry(settings(2, 1), schemas(user, &tenants));
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
    assert_eq!(admin.count(user).await, 1);
    eprintln!(
        "FIGURES mysql_prepared_isolation: iterations={ITERATIONS} schema_switches={}",
        c.schema_switches
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_database_switch_was_cancelled_is_never_trusted_to_be_on_it() {
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_schema_cancel";
    admin.user(user).await;
    let tenants = pairs("tp_mcancel", &["red", "blue"]);
    admin.databases_with_items(&dbs(&tenants)).await;
    let registry = registry(settings(2, 1), schemas(user, &tenants));
    // One connection only: every checkout below reuses it.
    for i in 0..200u64 {
        let (key, db) = &tenants[(i % 2) as usize];
        // Cancel some checkouts at every possible point of the switch.
        let attempt = tokio::time::timeout(
            Duration::from_micros(50 * (i % 7)),
            registry.get(&tenant(key)),
        )
        .await;
        drop(attempt);
        let mut conn = registry.get(&tenant(key)).await.expect("checkout");
        assert_eq!(
            &text(&mut conn, "SELECT owner AS value FROM item").await,
            db,
            "iteration {i}"
        );
    }
    assert!(admin.count(user).await <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_code_that_changes_the_database_must_discard_and_then_nobody_inherits_it() {
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_schema_contract";
    admin.user(user).await;
    let tenants = pairs("tp_mcontract", &["left", "right"]);
    admin.databases_with_items(&dbs(&tenants)).await;
    let registry = registry(settings(2, 1), schemas(user, &tenants));

    let mut conn = registry.get(&tenant("left")).await.expect("left");
    conn.batch_execute(&format!("USE `{}`", tenants[1].1))
        .await
        .expect("user code changes the database");
    conn.discard(); // the contract: session state the registry does not track → discard
    drop(conn);
    let mut conn = registry.get(&tenant("left")).await.expect("left again");
    assert_eq!(
        text(&mut conn, "SELECT owner AS value FROM item").await,
        tenants[0].1
    );
    assert_eq!(registry.stats().counters.discarded_dirty, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_noisy_tenant_cannot_take_more_than_its_share_of_a_shared_pool() {
    let _slots = common::reserve(6).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_fair_share";
    admin.user(user).await;
    let tenants = pairs("tp_mfair", &["noisy", "quiet"]);
    admin.databases_with_items(&dbs(&tenants)).await;
    let mut s = settings(4, 4);
    s.pool.tenant_max_in_use = Some(2);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let registry = registry(s, schemas(user, &tenants));
    let noisy = crate::hold(&registry, "noisy", 2).await;
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
        tenants[1].1
    );
    drop(noisy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tenant_database_is_a_typed_error_unless_the_target_creates_it() {
    let _slots = common::reserve(4).await;
    let Some(admin) = my::admin().await else {
        return;
    };
    let user = "tp_schema_missing";
    admin.user(user).await;
    admin.drop_database("tp_mmissing_absent").await;
    admin.drop_database("tp_mmissing_fresh").await;
    let url = DatabaseUrl::parse(&my::url(user, None)).expect("url");
    let dir = StaticDirectory::new()
        .with(
            tenant("absent"),
            TenantTarget::schema(
                url.clone(),
                SchemaName::parse("tp_mmissing_absent").expect("s"),
            ),
        )
        .with(
            tenant("fresh"),
            TenantTarget::schema(url, SchemaName::parse("tp_mmissing_fresh").expect("s"))
                .creating_missing(),
        );
    let registry = registry(settings(2, 2), dir);
    let err = registry
        .get(&tenant("absent"))
        .await
        .expect_err("absent database");
    assert!(matches!(err, Error::SchemaMissing { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 404);
    assert!(!registry.is_cached(&tenant("absent")));
    assert!(!admin.database_exists("tp_mmissing_absent").await);

    let mut c = registry
        .get(&tenant("fresh"))
        .await
        .expect("created on first use");
    assert_eq!(
        text(&mut c, "SELECT DATABASE() AS value").await,
        "tp_mmissing_fresh"
    );
    assert!(admin.database_exists("tp_mmissing_fresh").await);
}
