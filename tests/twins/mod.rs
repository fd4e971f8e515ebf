//! Tests written once for PostgreSQL and MySQL/MariaDB: each is generic over a [`Dialect`],
//! the few things that differ between the two servers (SQL spellings, how a schema is made,
//! which count bounds a budget), and each backend's binary instantiates it with [`twins!`].
//!
//! | module | what it proves |
//! | --- | --- |
//! | `context` | the current tenant in spawned tasks, fan-out, `max_lifetime`, per-tenant `max_size` |
//! | `catalog` | tenants created, suspended, moved and deleted in a catalog reach a registry; one winner of concurrent creates |
//! | `budget` | steals from idle pools, hand-offs to waiting tenants, a typed error only after the timeout |
//! | `errors` | every exit of a handler gives its connection back clean; bad targets give typed errors |
//! | `jobs` | a worker's 10,000 jobs over 200 tenants: own rows only, nothing left open |
//! | `killed` | sessions the server ends never reach a client as a 500 |
//! | `lifecycle` | shared pools, idle reaping, shutdown |
//! | `readiness` | unready while the server refuses connections or the budget stays exhausted, ready when back; one probe for concurrent calls, closed after |
//! | `migrations` | a tenant's migrations run once at its first start across registries, not at all when the catalog says current, and in bulk resumably |
//! | `pressure` | exact per-tenant figures (in use, waits, timeouts, start) and the top lists |
//! | `scale` | many tenants within the budget, a drain to zero, one pool per stampede |
//! | `schema` | schema tenants see their own rows only, fair shares of a shared pool |

#![allow(dead_code)] // each backend uses part of the fixtures

pub mod budget;
pub mod catalog;
pub mod context;
pub mod errors;
pub mod jobs;
pub mod killed;
pub mod lifecycle;
pub mod migrations;
pub mod pressure;
pub mod readiness;
pub mod replicas;
pub mod scale;
pub mod schema;

use std::future::Future;

use diesel::QueryResult;
use tenantpool::{DatabaseUrl, SchemaName, StaticDirectory, TemplateDirectory, TenantTarget};
use tenantpool_testkit::{Count, Database, Databases, Error, Fixture, TestServer};

use crate::common::tenant;

/// What the twin tests need to know about a backend.
pub trait Dialect: Send + Sync + 'static {
    /// The connection type of its registries.
    type Conn: tenantpool::Backend;
    /// Its test server.
    type Server: TestServer;

    /// The prefix of its `FIGURES` lines.
    const FIGURES: &'static str;
    /// A query returning the current database as one text column `value`.
    const CURRENT_DATABASE: &'static str;
    /// A query returning the current schema (MySQL: database) as one text column `value`.
    const CURRENT_SCHEMA: &'static str;
    /// A query returning how many sessions the server lists in the database `{db}`, as one
    /// text column `value`.
    const SESSIONS_IN: &'static str;
    /// A query returning the server's id of the current session as one text column `value`.
    const SESSION_ID: &'static str;
    /// Locks row 1 of `lockme` for update, returning one text column `value`.
    const LOCK_ROW: &'static str;
    /// How a statement of [`sleep`](Self::sleep) starts.
    const SLEEP_PREFIX: &'static str;
    /// Tenants of the `scale` tests with a database each, and with a schema each.
    const SCALE_TENANTS: (usize, usize);
    /// The budget of the `scale` tests with a database per tenant.
    const SCALE_BUDGET: usize;

    /// A statement that keeps the server busy for `seconds`.
    fn sleep(seconds: u32) -> String;

    /// A query of the connections the server accepts from a client like the tests' (read from
    /// the server's own settings), as one text column named `value`.
    const ACCEPTS: &'static str;

    /// Runs `sql`, which must return one text column named `value`.
    fn text(conn: &mut Self::Conn, sql: &str) -> impl Future<Output = String> + Send;

    /// Runs `sql`, which returns one text column named `value`, and returns every row's.
    fn texts(
        conn: &mut Self::Conn,
        sql: &str,
    ) -> impl Future<Output = QueryResult<Vec<String>>> + Send;

    /// Runs `sql` and returns the rows it affected.
    fn execute(conn: &mut Self::Conn, sql: &str)
        -> impl Future<Output = QueryResult<usize>> + Send;

    /// Whether the connection's session is inside a transaction, asked of the server.
    fn in_transaction(conn: &mut Self::Conn) -> impl Future<Output = bool> + Send;

    /// The count a budget of `limit` bounds at every instant: on PostgreSQL every session the
    /// server lists (a permit comes back only after the server has let its session go); on
    /// MySQL the sessions this process holds (the server lists a closed one a while longer).
    fn budget_count(limit: i64) -> Count;

    /// A throwaway database with a table `lockme (id, v)` holding the row `(1, 0)`.
    fn lock_table(
        server: &Self::Server,
        prefix: &str,
    ) -> impl Future<Output = Result<Database, Error>> + Send;

    /// Schemas for `keys`, each with an `item` row whose owner is the schema's name, reached
    /// through one URL with the fixture's tag.
    fn schemas(
        fixture: &Fixture<Self::Server>,
        prefix: &str,
        keys: &[&str],
    ) -> impl Future<Output = Result<Schemas, Error>> + Send;

    /// A database for each of `keys`, each with an `item` row whose owner is the database's
    /// name, reached through a URL template with the fixture's tag.
    fn database_tenants(
        fixture: &Fixture<Self::Server>,
        keys: &[String],
    ) -> impl Future<Output = Result<DatabaseTenants, Error>> + Send;

    /// Ends every session of the fixture's tag from the server's side (as a failover or an
    /// administrator does); how many.
    fn kill_all(fixture: &Fixture<Self::Server>)
        -> impl Future<Output = Result<i64, Error>> + Send;

    /// The statement with which user code moves a session to `schema`.
    fn use_schema(schema: &str) -> String;

    /// Whether the schema `name` of `schemas` exists on the server.
    fn schema_exists(
        server: &Self::Server,
        schemas: &Schemas,
        name: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A URL of a server that refuses connections, tagged `tag`.
    fn dead_server_url(tag: &str) -> String;
}

/// What keeps a fixture's databases on the server for as long as the test needs them.
pub enum Keep {
    /// Nothing to drop.
    Nothing,
    /// One database.
    Database(Database),
    /// A family of databases.
    Databases(Databases),
}

/// Schema tenants: schemas with one `item` row each, behind one shared URL.
pub struct Schemas {
    /// The URL every schema tenant shares.
    pub url: String,
    /// The schema of tenant `{tenant}`.
    pub pattern: String,
    /// `(tenant key, schema)` of the schemas created.
    pub tenants: Vec<(String, String)>,
    /// Drops them with the fixture.
    pub keep: Keep,
}

impl Schemas {
    /// The schema of tenant `key`, created or not.
    pub fn schema(&self, key: &str) -> String {
        self.pattern.replace("{tenant}", key)
    }

    /// A template directory over every schema of the pattern.
    pub fn template(&self) -> TemplateDirectory {
        TemplateDirectory::schema(&self.url, &self.pattern).expect("template")
    }

    /// A static directory of the tenants created.
    pub fn directory(&self) -> StaticDirectory {
        let url = DatabaseUrl::parse(&self.url).expect("url");
        let mut dir = StaticDirectory::new();
        for (key, schema) in &self.tenants {
            let schema = SchemaName::parse(schema).expect("schema name");
            dir.insert(tenant(key), TenantTarget::schema(url.clone(), schema));
        }
        dir
    }
}

/// Database tenants: a database each, with one `item` row each, behind a URL template.
pub struct DatabaseTenants {
    /// The URL of tenant `{tenant}`.
    pub template: String,
    /// `(tenant key, database)`.
    pub tenants: Vec<(String, String)>,
    /// Drops them with the fixture.
    pub keep: Keep,
}

/// The part of a [`Dialect`] impl that forwards to the binary's own `text` (see
/// `common::sql_helpers!`), `in_transaction` and diesel's `sql_query`.
macro_rules! dialect_sql {
    ($conn:ty) => {
        async fn text(conn: &mut $conn, sql: &str) -> String {
            text(conn, sql).await
        }

        async fn texts(conn: &mut $conn, sql: &str) -> diesel::QueryResult<Vec<String>> {
            diesel_async::RunQueryDsl::get_results::<crate::common::Row>(
                diesel::sql_query(sql),
                conn,
            )
            .await
            .map(|rows| rows.into_iter().map(|r| r.value).collect())
        }

        async fn execute(conn: &mut $conn, sql: &str) -> diesel::QueryResult<usize> {
            diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), conn).await
        }

        async fn in_transaction(conn: &mut $conn) -> bool {
            in_transaction(conn).await
        }
    };
}
pub(crate) use dialect_sql;

/// Emits a `#[tokio::test]` for each named test of a twins module, for one dialect:
/// `twins!(crate::Postgres, budget, threads = 2: test_a, test_b);`
macro_rules! twins {
    ($dialect:ty, $module:ident, threads = $threads:tt: $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn $name() -> crate::common::TestResult {
                crate::twins::$module::$name::<$dialect>().await
            }
        )+
    };
}
pub(crate) use twins;
