//! The core's behaviours on a real PostgreSQL server, proven by counting connections on the
//! server (`pg_stat_activity`, by a per-test `application_name`), never by trusting pool
//! counters alone. The tests PostgreSQL shares with MySQL are written once in `tests/twins`
//! and instantiated here with the [`Postgres`] dialect.

#[path = "../common/mod.rs"]
mod common;
#[path = "../twins/mod.rs"]
mod twins;

mod budget;
mod cancel;
mod catalog;
mod context;
mod errors;
mod jobs;
mod killed;
mod lifecycle;
mod migrations;
mod pressure;
mod readiness;
mod reliability;
mod replicas;
mod scale;
mod schema;
mod tls;

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tenantpool_testkit::{Count, Database, Error, Fixture, PgServer, TestServer};

pub use crate::common::{Num, Row};
use crate::twins::{DatabaseTenants, Dialect, Keep, Schemas};

pub type Pg = AsyncPgConnection;

#[derive(QueryableByName, Debug)]
pub struct Int {
    #[diesel(sql_type = Integer)]
    pub n: i32,
}

common::sql_helpers!(Pg);

/// The server-side backend pid of a connection.
pub async fn backend_pid(conn: &mut Pg) -> i32 {
    diesel::sql_query("SELECT pg_backend_pid() AS n")
        .get_result::<Int>(conn)
        .await
        .expect("pg_backend_pid")
        .n
}

/// Whether the connection's session is inside a transaction block, asked of the server:
/// `SAVEPOINT` succeeds only inside one.
pub async fn in_transaction(conn: &mut Pg) -> bool {
    conn.batch_execute("SAVEPOINT tp_probe").await.is_ok()
}

/// A throwaway database with a schema for each of `keys`, each holding
/// `item(id int, owner text)` with one row naming the schema.
pub async fn database_with_schemas(
    server: &PgServer,
    prefix: &str,
    keys: &[&str],
) -> Result<Database, Error> {
    let db = server.throwaway_database(prefix).await?;
    let sql: String = keys
        .iter()
        .map(|s| {
            format!(
                "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".item (id int, owner text); \
                 INSERT INTO \"{s}\".item VALUES (1, '{s}');"
            )
        })
        .collect();
    if !sql.is_empty() {
        server.run_sql_in(db.name(), &sql).await?;
    }
    Ok(db)
}

/// The PostgreSQL side of the twin tests.
pub struct Postgres;

impl Dialect for Postgres {
    type Conn = Pg;
    type Server = PgServer;

    const FIGURES: &'static str = "";
    const CURRENT_DATABASE: &'static str = "SELECT current_database()::text AS value";
    const CURRENT_SCHEMA: &'static str = "SELECT current_schema()::text AS value";
    const SESSIONS_IN: &'static str =
        "SELECT count(*)::text AS value FROM pg_stat_activity WHERE datname = '{db}'";
    const SESSION_ID: &'static str = "SELECT pg_backend_pid()::text AS value";
    const LOCK_ROW: &'static str = "SELECT v::text AS value FROM lockme WHERE id = 1 FOR UPDATE";
    const SLEEP_PREFIX: &'static str = "SELECT pg_sleep";
    const SCALE_TENANTS: (usize, usize) = (200, 200);
    const SCALE_BUDGET: usize = 20;

    fn sleep(seconds: u32) -> String {
        format!("SELECT pg_sleep({seconds})")
    }

    const ACCEPTS: &'static str = "SELECT ((SELECT setting::int FROM pg_settings \
        WHERE name = 'max_connections') - (SELECT COALESCE(sum(setting::int), 0) \
        FROM pg_settings WHERE name IN ('superuser_reserved_connections', \
        'reserved_connections')))::text AS value";

    crate::twins::dialect_sql!(Pg);

    fn budget_count(_limit: i64) -> Count {
        Count::Tagged
    }

    async fn lock_table(server: &PgServer, prefix: &str) -> Result<Database, Error> {
        let db = server.throwaway_database(prefix).await?;
        server
            .run_sql_in(
                db.name(),
                "CREATE TABLE lockme (id int PRIMARY KEY, v int); INSERT INTO lockme VALUES (1, 0);",
            )
            .await?;
        Ok(db)
    }

    async fn schemas(t: &Fixture<PgServer>, prefix: &str, keys: &[&str]) -> Result<Schemas, Error> {
        let db = database_with_schemas(&t.server, prefix, keys).await?;
        Ok(Schemas {
            url: t.url(db.name()),
            pattern: "{tenant}".into(),
            tenants: keys
                .iter()
                .map(|k| (k.to_string(), k.to_string()))
                .collect(),
            keep: Keep::Database(db),
        })
    }

    async fn database_tenants(
        t: &Fixture<PgServer>,
        keys: &[String],
    ) -> Result<DatabaseTenants, Error> {
        let server = &t.server;
        // Two hundred databases take seconds to create: these are kept between runs, and
        // tests only read them.
        let tenants: Vec<(String, String)> = keys
            .iter()
            .map(|k| (k.clone(), format!("tp_fx_scale_{k}")))
            .collect();
        let names: Vec<String> = tenants.iter().map(|(_, db)| db.clone()).collect();
        server.ensure_databases(&names).await?;
        for db in &names {
            server
                .run_sql_in(
                    db,
                    &format!(
                        "CREATE TABLE IF NOT EXISTS item (id int PRIMARY KEY, owner text); \
                         INSERT INTO item VALUES (1, '{db}') ON CONFLICT DO NOTHING;"
                    ),
                )
                .await?;
        }
        Ok(DatabaseTenants {
            template: t.url("tp_fx_scale_{tenant}"),
            tenants,
            keep: Keep::Nothing,
        })
    }

    async fn kill_all(fixture: &Fixture<PgServer>) -> Result<i64, Error> {
        fixture.server.terminate(fixture.tag.name()).await
    }

    fn use_schema(schema: &str) -> String {
        format!("SET search_path TO \"{schema}\"")
    }

    async fn schema_exists(
        server: &PgServer,
        schemas: &Schemas,
        name: &str,
    ) -> Result<bool, Error> {
        let Keep::Database(db) = &schemas.keep else {
            return Ok(false);
        };
        let probe = server.url(db.name(), "tp_probe");
        let (client, connection) = tokio_postgres::connect(&probe, tokio_postgres::NoTls)
            .await
            .expect("probe connection");
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&name],
            )
            .await
            .expect("list schemas");
        Ok(row.get::<_, i64>(0) > 0)
    }

    fn dead_server_url(tag: &str) -> String {
        format!("postgres://postgres@127.0.0.1:1/x?application_name={tag}")
    }
}
