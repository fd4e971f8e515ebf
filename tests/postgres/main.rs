//! The core's behaviours on a real PostgreSQL server, proven by counting connections on the
//! server (`pg_stat_activity`, by a per-test `application_name`), never by trusting pool
//! counters alone.

#[path = "../common/mod.rs"]
mod common;

mod budget;
mod cancel;
mod errors;
mod lifecycle;
mod reliability;
mod scale;
mod schema;

use std::time::Duration;

use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenantpool::{
    DatabaseUrl, Registry, Settings, StaticDirectory, TenantDirectory, TenantId, TenantTarget,
};

pub type Pg = AsyncPgConnection;

/// Settings small enough for many tests to share one server.
pub fn settings(budget: usize, max_size: usize) -> Settings {
    let mut s = Settings::default();
    s.budget.max_connections = budget;
    s.pool.max_size = max_size;
    s.pool.checkout_timeout = Duration::from_secs(10);
    s.cache.maintenance_interval = Duration::from_millis(100);
    s.runtime.io_threads = 1;
    s
}

pub fn registry(settings: Settings, directory: impl TenantDirectory) -> Registry<Pg> {
    common::init_tracing();
    Registry::<Pg>::builder(settings)
        .directory(directory)
        .build()
        .expect("registry")
}

pub fn tenant(key: &str) -> TenantId {
    TenantId::parse(key).expect("valid tenant key")
}

/// A static directory mapping each `(tenant, database)` to its own database.
pub fn databases(app: &str, pairs: &[(&str, &str)]) -> StaticDirectory {
    let mut dir = StaticDirectory::new();
    for (t, db) in pairs {
        let url = DatabaseUrl::parse(&common::pg::url(db, app)).expect("url");
        dir.insert(tenant(t), TenantTarget::database(url));
    }
    dir
}

/// Checks out `n` connections for `key` at once and keeps them.
pub async fn hold(
    registry: &Registry<Pg>,
    key: &str,
    n: usize,
) -> Vec<tenantpool::PooledConnection<Pg>> {
    let t = tenant(key);
    futures_util::future::try_join_all((0..n).map(|_| registry.get(&t)))
        .await
        .unwrap_or_else(|e| panic!("holding {n} connections for {key}: {e}"))
}

#[derive(QueryableByName, Debug)]
pub struct Row {
    #[diesel(sql_type = Text)]
    pub value: String,
}

#[derive(QueryableByName, Debug)]
pub struct Num {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(QueryableByName, Debug)]
pub struct Int {
    #[diesel(sql_type = Integer)]
    pub n: i32,
}

/// Runs `sql`, which must return one text column named `value`.
pub async fn text(conn: &mut Pg, sql: &str) -> String {
    diesel::sql_query(sql)
        .get_result::<Row>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .value
}

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
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("SAVEPOINT tp_probe").await.is_ok()
}
