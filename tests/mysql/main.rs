//! The core's behaviours on a real MariaDB/MySQL server, proven by counting connections on the
//! server (`information_schema.PROCESSLIST`, by a per-test user), never by trusting pool
//! counters alone.
//!
//! Every test connects as a user of its own (`tp_*`), so that the connections it counts are
//! exactly the ones its registry opened, however many tests run at the same time.

#[path = "../common/mod.rs"]
mod common;

mod budget;
mod driver;
mod errors;
mod lifecycle;
mod scale;
mod schema;

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AnsiTransactionManager, AsyncMysqlConnection, RunQueryDsl, TransactionManager};
use tenantpool::{
    DatabaseUrl, Registry, Settings, StaticDirectory, TenantDirectory, TenantId, TenantTarget,
};

use crate::common::my;

pub type My = AsyncMysqlConnection;

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

pub fn registry(settings: Settings, directory: impl TenantDirectory) -> Registry<My> {
    common::init_tracing();
    Registry::<My>::builder(settings)
        .directory(directory)
        .build()
        .expect("registry")
}

pub fn tenant(key: &str) -> TenantId {
    TenantId::parse(key).expect("valid tenant key")
}

/// A static directory mapping each `(tenant, database)` to its own database, reached as `user`.
pub fn databases(user: &str, pairs: &[(&str, &str)]) -> StaticDirectory {
    let mut dir = StaticDirectory::new();
    for (t, db) in pairs {
        let url = DatabaseUrl::parse(&my::url(user, Some(db))).expect("url");
        dir.insert(tenant(t), TenantTarget::database(url));
    }
    dir
}

/// Checks out `n` connections for `key` at once and keeps them.
pub async fn hold(
    registry: &Registry<My>,
    key: &str,
    n: usize,
) -> Vec<tenantpool::PooledConnection<My>> {
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

/// Runs `sql`, which must return one text column named `value`.
pub async fn text(conn: &mut My, sql: &str) -> String {
    diesel::sql_query(sql)
        .get_result::<Row>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .value
}

/// Runs `sql`, which must return one integer column named `n`.
pub async fn number(conn: &mut My, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Num>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// The server-side id of a connection's session.
pub async fn connection_id(conn: &mut My) -> i64 {
    number(conn, "SELECT CAST(CONNECTION_ID() AS SIGNED) AS n").await
}

/// Whether the connection's session is inside a transaction, asked of the server
/// (`@@in_transaction` on MariaDB; on MySQL, the InnoDB transaction list).
pub async fn in_transaction(conn: &mut My) -> bool {
    let asked = diesel::sql_query("SELECT CAST(@@in_transaction AS SIGNED) AS n")
        .get_result::<Num>(conn)
        .await;
    match asked {
        Ok(row) => row.n != 0,
        Err(_) => {
            number(
                conn,
                "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX \
                 WHERE trx_mysql_thread_id = CONNECTION_ID()",
            )
            .await
                > 0
        }
    }
}

/// Whether diesel's transaction manager on this connection has a transaction open (or is in
/// an error state).
pub fn diesel_transaction_open(conn: &mut My) -> bool {
    !matches!(
        <AnsiTransactionManager as TransactionManager<My>>::transaction_manager_status_mut(conn)
            .transaction_depth(),
        Ok(None)
    )
}
