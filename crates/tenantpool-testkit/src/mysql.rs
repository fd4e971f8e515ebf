//! A MySQL/MariaDB test server: admin sessions on the server named by
//! `TENANTPOOL_TEST_MYSQL_URL`. The process list has no application name, so a test's
//! connections are tagged by an account of the test's own and counted by user.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Pool};

use crate::address::{mask_password, ServerUrl};
use crate::cleanup::Cleanup;
use crate::error::Error;
use crate::sampler::Reading;
use crate::server::TestServer;
use crate::sockets;
use crate::throwaway::Tag;

/// MariaDB's "Lock wait timeout exceeded".
const LOCK_WAIT_TIMEOUT: u16 = 1205;

/// A MySQL/MariaDB server for tests, with a pool of admin sessions. See [`TestServer`] for
/// what every server offers; this adds what only MySQL has.
///
/// mysql_async moves a connection to a loopback address onto the server's Unix socket
/// (`prefer_socket`, on by default): while it does, the server lists two sessions for one
/// connection. Bound such moments with [`TestServer::count_held`] (a socket session has no
/// port and counts as held), or add `?prefer_socket=false` to the URLs.
///
/// ```no_run
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::{MySqlServer, TestServer};
///
/// // Skips loudly without a server, fails under CI.
/// let Some(server) = MySqlServer::from_env().await else { return Ok(()) };
/// let tag = server.tag("tp_orders").await?; // an account of the test's own
/// let url = server.url("orders", &tag);
/// assert_eq!(server.count(&tag).await?, 0);
/// # let _ = url;
/// # Ok(()) }
/// ```
pub struct MySqlServer {
    url: ServerUrl,
    pool: Pool,
}

impl MySqlServer {
    /// A URL for no database in particular whose connections carry `tag` (schema-per-tenant
    /// pools choose the database with `USE`).
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::MySqlServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let tag = server.tag("tp_shared").await?;
    /// assert!(server.url_without_database(&tag).ends_with(":3306"));
    /// # Ok(()) }
    /// ```
    pub fn url_without_database(&self, tag: &str) -> String {
        format!("mysql://{tag}@{}", self.url.host_port())
    }

    /// A [`Tag`] like [`TestServer::tag`], whose account needs `password`.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::MySqlServer) -> Result<(), tenantpool_testkit::Error> {
    /// let tag = server.tag_with_password("tp_secret", "hunter2").await?;
    /// # let _ = tag;
    /// # Ok(()) }
    /// ```
    pub async fn tag_with_password(&self, prefix: &str, password: &str) -> Result<Tag, Error> {
        let name = crate::unique(prefix);
        self.account(&name, &format!(" IDENTIFIED BY '{password}'"))
            .await
    }

    /// Closes the session `connection_id` (`CONNECTION_ID()` in it) on the server.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::MySqlServer) -> Result<(), tenantpool_testkit::Error> {
    /// server.kill(42).await?;
    /// # Ok(()) }
    /// ```
    pub async fn kill(&self, connection_id: i64) -> Result<(), Error> {
        self.run_sql(&format!("KILL CONNECTION {connection_id}"))
            .await
    }

    /// The admin pool, for what the kit does not wrap.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::MySqlServer) -> Result<(), mysql_async::Error> {
    /// use mysql_async::prelude::Queryable;
    /// let version: Option<String> = server.pool().get_conn().await?.query_first("SELECT VERSION()").await?;
    /// # let _ = version;
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// An account named `name` with every privilege, dropped with the returned tag.
    async fn account(&self, name: &str, identified: &str) -> Result<Tag, Error> {
        self.run_sql(&format!(
            "DROP USER IF EXISTS '{name}'@'%'; CREATE USER '{name}'@'%'{identified}; \
             GRANT ALL ON *.* TO '{name}'@'%'"
        ))
        .await?;
        let (base, user) = (self.url.clone(), name.to_string());
        let cleanup = Cleanup::new(format!("account {name}"), move || async move {
            <MySqlServer as TestServer>::connect(base.base())
                .await?
                .run_sql(&format!("DROP USER IF EXISTS '{user}'@'%'"))
                .await
        });
        Ok(Tag::new(name.to_string(), Some(cleanup)))
    }

    async fn conn(&self) -> Result<mysql_async::Conn, Error> {
        self.pool.get_conn().await.map_err(|e| Error::Connect {
            url: mask_password(self.url.base()),
            source: e.into(),
        })
    }

    async fn first_i64(&self, sql: &str, params: Vec<mysql_async::Value>) -> Result<i64, Error> {
        self.conn()
            .await?
            .exec_first::<i64, _, _>(sql, params)
            .await
            .map(Option::unwrap_or_default)
            .map_err(|e| Error::query(sql, e))
    }
}

/// A session of its own on `url`.
async fn open(url: &str) -> Result<Conn, Error> {
    let connect_error = |e: mysql_async::Error| Error::Connect {
        url: mask_password(url),
        source: e.into(),
    };
    let opts = Opts::from_url(url).map_err(|e| connect_error(e.into()))?;
    Conn::new(opts).await.map_err(connect_error)
}

impl TestServer for MySqlServer {
    const NAME: &'static str = "MySQL/MariaDB";
    const URL_VARIABLE: &'static str = "TENANTPOOL_TEST_MYSQL_URL";
    const DEFAULT_URL: &'static str = "mysql://root@127.0.0.1:3306";

    async fn connect(base_url: &str) -> Result<Self, Error> {
        let url = ServerUrl::parse(base_url, 3306)?;
        let opts = Opts::from_url(url.base()).map_err(|e| Error::Url {
            url: mask_password(url.base()),
            reason: e.to_string(),
        })?;
        let server = Self {
            pool: Pool::new(opts),
            url,
        };
        drop(server.conn().await?);
        Ok(server)
    }

    fn base_url(&self) -> &str {
        self.url.base()
    }

    fn url(&self, database: &str, tag: &str) -> String {
        format!("mysql://{tag}@{}/{database}", self.url.host_port())
    }

    async fn tag(&self, prefix: &str) -> Result<Tag, Error> {
        self.account(&crate::unique(prefix), "").await
    }

    async fn run_sql(&self, sql: &str) -> Result<(), Error> {
        self.conn()
            .await?
            .query_drop(sql)
            .await
            .map_err(|e| Error::query(sql, e))
    }

    async fn run_sql_in(&self, database: &str, sql: &str) -> Result<(), Error> {
        let mut conn = open(&format!("{}/{database}", self.url.base())).await?;
        let done = conn.query_drop(sql).await;
        let _ = conn.disconnect().await;
        done.map_err(|e| Error::query(sql, e))
    }

    async fn count(&self, tag: &str) -> Result<i64, Error> {
        self.first_i64(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
            vec![tag.into()],
        )
        .await
    }

    async fn count_held(&self, tag: &str, limit: i64) -> Result<Reading, Error> {
        let sql = "SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = ?";
        let hosts = self
            .conn()
            .await?
            .exec::<String, _, _>(sql, (tag,))
            .await
            .map_err(|e| Error::query(sql, e))?;
        let listed = hosts.len() as i64;
        if listed <= limit {
            return Ok(listed.into());
        }
        let ports: Vec<Option<u16>> = hosts
            .iter()
            .map(|host| host.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .collect();
        Ok((sockets::held(&ports, self.url.port()), listed).into())
    }

    async fn count_with_total(&self, tag: &str) -> Result<Reading, Error> {
        let sql = "SELECT CAST(COUNT(IF(USER = ?, 1, NULL)) AS SIGNED), CAST(COUNT(*) AS SIGNED) \
                   FROM information_schema.PROCESSLIST \
                   WHERE COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()";
        let row = self
            .conn()
            .await?
            .exec_first::<(i64, i64), _, _>(sql, (tag,))
            .await
            .map_err(|e| Error::query(sql, e))?;
        Ok(row.unwrap_or_default().into())
    }

    async fn count_in_transaction(&self, tag: &str) -> Result<i64, Error> {
        self.first_i64(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
             JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
             WHERE p.USER = ?",
            vec![tag.into()],
        )
        .await
    }

    async fn count_running(&self, tag: &str, prefix: &str) -> Result<i64, Error> {
        self.first_i64(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE USER = ? AND LEFT(INFO, CHAR_LENGTH(?)) = ?",
            vec![tag.into(), prefix.into(), prefix.into()],
        )
        .await
    }

    async fn can_lock(
        &self,
        database: &str,
        locking_query: &str,
        wait: Duration,
    ) -> Result<bool, Error> {
        let mut conn = open(&format!("{}/{database}", self.url.base())).await?;
        let setup = format!(
            "SET SESSION innodb_lock_wait_timeout = {}; START TRANSACTION",
            wait.as_secs().max(1)
        );
        let locked = match conn.query_drop(&setup).await {
            Ok(()) => conn.query_drop(locking_query).await,
            Err(e) => {
                let _ = conn.disconnect().await;
                return Err(Error::query(&setup, e));
            }
        };
        let _ = conn.query_drop("ROLLBACK").await;
        let _ = conn.disconnect().await;
        match locked {
            Ok(()) => Ok(true),
            Err(mysql_async::Error::Server(e)) if e.code == LOCK_WAIT_TIMEOUT => Ok(false),
            Err(e) => Err(Error::query(locking_query, e)),
        }
    }

    async fn create_database(&self, name: &str) -> Result<(), Error> {
        self.run_sql(&format!("CREATE DATABASE `{name}`")).await
    }

    async fn ensure_databases(&self, names: &[String]) -> Result<(), Error> {
        let sql: String = names
            .iter()
            .map(|n| format!("CREATE DATABASE IF NOT EXISTS `{n}`;"))
            .collect();
        if sql.is_empty() {
            return Ok(());
        }
        self.run_sql(&sql).await
    }

    async fn drop_database(&self, name: &str) -> Result<(), Error> {
        // A session still holding a lock in it would otherwise make the drop wait a year.
        self.run_sql(&format!(
            "SET SESSION lock_wait_timeout = 10; DROP DATABASE IF EXISTS `{name}`"
        ))
        .await
    }

    async fn drop_databases_with_prefix(&self, prefix: &str) -> Result<u64, Error> {
        let sql = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA \
                   WHERE LEFT(SCHEMA_NAME, CHAR_LENGTH(?)) = ?";
        let names = self
            .conn()
            .await?
            .exec::<String, _, _>(sql, (prefix, prefix))
            .await
            .map_err(|e| Error::query(sql, e))?;
        for name in &names {
            self.drop_database(name).await?;
        }
        Ok(names.len() as u64)
    }

    async fn database_exists(&self, name: &str) -> Result<bool, Error> {
        self.first_i64(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            vec![name.into()],
        )
        .await
        .map(|n| n > 0)
    }
}

impl std::fmt::Debug for MySqlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlServer")
            .field("url", &mask_password(self.url.base()))
            .finish_non_exhaustive()
    }
}
