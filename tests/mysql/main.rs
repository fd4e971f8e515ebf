//! The core's behaviours on a real MariaDB/MySQL server, proven by counting connections on the
//! server (`information_schema.PROCESSLIST`, by a per-test user), never by trusting pool
//! counters alone. The tests MySQL shares with PostgreSQL are written once in `tests/twins`
//! and instantiated here with the [`MySql`] dialect.
//!
//! Every test connects as an account of its own (a testkit `Tag`), so that the connections it
//! counts are exactly the ones its registry opened, however many tests run at the same time.

#[path = "../common/mod.rs"]
mod common;
#[path = "../twins/mod.rs"]
mod twins;

mod budget;
mod catalog;
mod context;
mod driver;
mod errors;
mod jobs;
mod killed;
mod lifecycle;
mod migrations;
mod pressure;
mod readiness;
mod replicas;
mod scale;
mod schema;
mod tls;

use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use tenantpool_testkit::{Count, Database, Databases, Error, Fixture, MySqlServer, TestServer};

pub use crate::common::{Num, Row};
use crate::twins::{DatabaseTenants, Dialect, Keep, Schemas};

pub type My = AsyncMysqlConnection;

common::sql_helpers!(My);

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

/// Databases `<unique prefix>_<key>` for `keys`, each holding `item(id, owner)` with one row
/// naming the database.
pub async fn databases_with_items(
    server: &MySqlServer,
    prefix: &str,
    keys: &[&str],
) -> Result<Databases, Error> {
    let family = server.throwaway_databases(prefix, keys).await?;
    let sql: String = keys
        .iter()
        .map(|k| {
            let db = family.name(k);
            format!(
                "CREATE TABLE `{db}`.item (id INT PRIMARY KEY, owner TEXT) ENGINE=InnoDB; \
                 INSERT INTO `{db}`.item VALUES (1, '{db}');"
            )
        })
        .collect();
    if !sql.is_empty() {
        server.run_sql(&sql).await?;
    }
    Ok(family)
}

/// The MySQL/MariaDB side of the twin tests.
pub struct MySql;

impl Dialect for MySql {
    type Conn = My;
    type Server = MySqlServer;

    const FIGURES: &'static str = "mysql_";
    const CURRENT_DATABASE: &'static str = "SELECT DATABASE() AS value";
    const CURRENT_SCHEMA: &'static str = "SELECT DATABASE() AS value";
    const SESSIONS_IN: &'static str = "SELECT CAST(count(*) AS CHAR) AS value \
        FROM information_schema.PROCESSLIST WHERE DB = '{db}'";
    const SESSION_ID: &'static str = "SELECT CAST(CONNECTION_ID() AS CHAR) AS value";
    const LOCK_ROW: &'static str =
        "SELECT CAST(v AS CHAR) AS value FROM lockme WHERE id = 1 FOR UPDATE";
    const SLEEP_PREFIX: &'static str = "SELECT SLEEP";
    const SCALE_TENANTS: (usize, usize) = (80, 100);
    const SCALE_BUDGET: usize = 12;

    fn sleep(seconds: u32) -> String {
        format!("SELECT SLEEP({seconds})")
    }

    const ACCEPTS: &'static str = "SELECT VARIABLE_VALUE AS value \
        FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'MAX_CONNECTIONS'";

    crate::twins::dialect_sql!(My);

    fn budget_count(limit: i64) -> Count {
        Count::Held { limit }
    }

    async fn lock_table(server: &MySqlServer, prefix: &str) -> Result<Database, Error> {
        let db = server.throwaway_database(prefix).await?;
        server
            .run_sql_in(
                db.name(),
                "CREATE TABLE lockme (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; \
                 INSERT INTO lockme VALUES (1, 0);",
            )
            .await?;
        Ok(db)
    }

    /// On MySQL a schema is a database: one per tenant, all on one server, reached through
    /// one shared pool whose connections switch with `USE`.
    async fn schemas(
        t: &Fixture<MySqlServer>,
        prefix: &str,
        keys: &[&str],
    ) -> Result<Schemas, Error> {
        let family = databases_with_items(&t.server, prefix, keys).await?;
        Ok(Schemas {
            url: t.server.url_without_database(&t.tag),
            pattern: format!("{}_{{tenant}}", family.prefix()),
            tenants: keys
                .iter()
                .map(|k| (k.to_string(), family.name(k)))
                .collect(),
            keep: Keep::Databases(family),
        })
    }

    async fn database_tenants(
        t: &Fixture<MySqlServer>,
        keys: &[String],
    ) -> Result<DatabaseTenants, Error> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let family = databases_with_items(&t.server, "tp_mscale", &keys).await?;
        Ok(DatabaseTenants {
            template: t.url(&family.name("{tenant}")),
            tenants: keys
                .iter()
                .map(|k| (k.to_string(), family.name(k)))
                .collect(),
            keep: Keep::Databases(family),
        })
    }

    async fn kill_all(fixture: &Fixture<MySqlServer>) -> Result<i64, Error> {
        use mysql_async::prelude::Queryable;
        let background = |e: mysql_async::Error| Error::Background(e.to_string());
        let mut admin = fixture.server.pool().get_conn().await.map_err(background)?;
        let ids: Vec<i64> = admin
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
                (fixture.tag.name(),),
            )
            .await
            .map_err(background)?;
        drop(admin);
        let mut killed = 0;
        for id in ids {
            // A session that ended meanwhile is no error.
            if fixture.server.kill(id).await.is_ok() {
                killed += 1;
            }
        }
        Ok(killed)
    }

    fn use_schema(schema: &str) -> String {
        format!("USE `{schema}`")
    }

    async fn schema_exists(
        server: &MySqlServer,
        _schemas: &Schemas,
        name: &str,
    ) -> Result<bool, Error> {
        server.database_exists(name).await
    }

    fn dead_server_url(tag: &str) -> String {
        format!("mysql://{tag}@127.0.0.1:1/x")
    }
}
