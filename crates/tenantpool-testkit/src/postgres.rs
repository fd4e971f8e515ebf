//! A PostgreSQL test server: an admin session on the server named by
//! `TENANTPOOL_TEST_PG_URL`, connections counted in `pg_stat_activity` by `application_name`.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::address::{mask_password, ServerUrl};
use crate::cleanup::Cleanup;
use crate::error::Error;
use crate::sampler::Reading;
use crate::server::TestServer;
use crate::sockets;
use crate::throwaway::{Database, Tag};

/// The `application_name` of the kit's own sessions (admin, samplers, cleanups).
const ADMIN_TAG: &str = "testkit_admin";

/// A PostgreSQL server for tests, with an admin session on its `postgres` database. See
/// [`TestServer`] for what every server offers; this adds what only PostgreSQL has.
///
/// ```no_run
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::{PgServer, TestServer};
///
/// // Skips loudly without a server, fails under CI.
/// let Some(server) = PgServer::from_env().await else { return Ok(()) };
/// let tag = server.tag("tp_orders").await?;
/// let url = server.url("orders", &tag); // ...?application_name=tp_orders_…
/// assert_eq!(server.count(&tag).await?, 0);
/// # let _ = url;
/// # Ok(()) }
/// ```
pub struct PgServer {
    url: ServerUrl,
    /// Its driver runs on the runtime that connected, and ends when the client is dropped.
    client: Client,
}

impl PgServer {
    /// The admin session, for what the kit does not wrap.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tokio_postgres::Error> {
    /// let row = server.client().query_one("SELECT version()", &[]).await?;
    /// # let _ = row;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Terminates every session tagged `tag` (and only those); returns how many.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// let killed = server.terminate("tp_orders").await?;
    /// # let _ = killed;
    /// # Ok(()) }
    /// ```
    pub async fn terminate(&self, tag: &str) -> Result<i64, Error> {
        self.count_query(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()) k WHERE t",
            tag,
        )
        .await
    }

    /// A new schema with a unique name starting with `prefix` in `database`, dropped (with
    /// everything in it) with the handle.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let db = server.throwaway_database("tp_orders").await?;
    /// let schema = server.throwaway_schema(db.name(), "acme").await?;
    /// server
    ///     .run_sql_in(db.name(), &format!("CREATE TABLE \"{}\".t (id int)", schema.name()))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn throwaway_schema(&self, database: &str, prefix: &str) -> Result<Database, Error> {
        let name = crate::unique(prefix);
        self.run_sql_in(database, &format!("CREATE SCHEMA \"{name}\""))
            .await?;
        let (base, db, schema) = (self.url.clone(), database.to_string(), name.clone());
        let cleanup = Cleanup::new(format!("schema {name} of {database}"), move || async move {
            let (client, driver) = connect(&database_url(base.base(), &db, ADMIN_TAG)).await?;
            let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let dropped = client.batch_execute(&sql).await;
            drop(client);
            let _ = driver.await;
            dropped.map_err(|e| Error::query(&sql, e))
        });
        Ok(Database::new(name, cleanup))
    }

    async fn count_query(&self, sql: &str, tag: &str) -> Result<i64, Error> {
        self.client
            .query_one(sql, &[&tag])
            .await
            .map(|row| row.get::<_, i64>(0))
            .map_err(|e| Error::query(sql, e))
    }
}

/// `{base}/{database}?application_name={tag}`.
fn database_url(base: &str, database: &str, tag: &str) -> String {
    format!("{base}/{database}?application_name={tag}")
}

/// A session on `url`, its driver on the caller's runtime.
async fn connect(url: &str) -> Result<(Client, JoinHandle<()>), Error> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| Error::Connect {
                url: mask_password(url),
                source: e.into(),
            })?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, driver))
}

impl TestServer for PgServer {
    const NAME: &'static str = "PostgreSQL";
    const URL_VARIABLE: &'static str = "TENANTPOOL_TEST_PG_URL";
    const DEFAULT_URL: &'static str = "postgres://postgres@127.0.0.1:5432";

    async fn connect(base_url: &str) -> Result<Self, Error> {
        let url = ServerUrl::parse(base_url, 5432)?;
        let (client, _driver) = connect(&database_url(url.base(), "postgres", ADMIN_TAG)).await?;
        Ok(Self { url, client })
    }

    fn base_url(&self) -> &str {
        self.url.base()
    }

    fn url(&self, database: &str, tag: &str) -> String {
        database_url(self.url.base(), database, tag)
    }

    async fn tag(&self, prefix: &str) -> Result<Tag, Error> {
        Ok(Tag::new(crate::unique(prefix), None))
    }

    async fn run_sql(&self, sql: &str) -> Result<(), Error> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| Error::query(sql, e))
    }

    async fn run_sql_in(&self, database: &str, sql: &str) -> Result<(), Error> {
        let (client, driver) = connect(&self.url(database, ADMIN_TAG)).await?;
        let done = client.batch_execute(sql).await;
        drop(client);
        let _ = driver.await;
        done.map_err(|e| Error::query(sql, e))
    }

    async fn count(&self, tag: &str) -> Result<i64, Error> {
        self.count_query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            tag,
        )
        .await
    }

    async fn count_held(&self, tag: &str, limit: i64) -> Result<Reading, Error> {
        let sql = "SELECT client_port FROM pg_stat_activity WHERE application_name = $1";
        let rows = self
            .client
            .query(sql, &[&tag])
            .await
            .map_err(|e| Error::query(sql, e))?;
        let listed = rows.len() as i64;
        if listed <= limit {
            return Ok(listed.into());
        }
        let ports: Vec<Option<u16>> = rows
            .iter()
            .map(|r| {
                r.get::<_, Option<i32>>(0)
                    .and_then(|p| u16::try_from(p).ok())
            })
            .collect();
        Ok((sockets::held(&ports, self.url.port()), listed).into())
    }

    async fn count_with_total(&self, tag: &str) -> Result<Reading, Error> {
        let sql = "SELECT count(*) FILTER (WHERE application_name = $1)::int8, count(*)::int8 \
                   FROM pg_stat_activity \
                   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
        let row = self
            .client
            .query_one(sql, &[&tag])
            .await
            .map_err(|e| Error::query(sql, e))?;
        Ok((row.get::<_, i64>(0), row.get::<_, i64>(1)).into())
    }

    async fn count_in_transaction(&self, tag: &str) -> Result<i64, Error> {
        self.count_query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state LIKE 'idle in transaction%'",
            tag,
        )
        .await
    }

    async fn count_running(&self, tag: &str, prefix: &str) -> Result<i64, Error> {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                   AND state = 'active' AND left(query, length($2)) = $2";
        self.client
            .query_one(sql, &[&tag, &prefix])
            .await
            .map(|row| row.get::<_, i64>(0))
            .map_err(|e| Error::query(sql, e))
    }

    async fn can_lock(
        &self,
        database: &str,
        locking_query: &str,
        wait: Duration,
    ) -> Result<bool, Error> {
        let (client, driver) = connect(&self.url(database, ADMIN_TAG)).await?;
        let sql = format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'; {locking_query}; ROLLBACK;",
            wait.as_millis().max(1)
        );
        let locked = client.batch_execute(&sql).await;
        drop(client);
        let _ = driver.await;
        match locked {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
            Err(e) => Err(Error::query(&sql, e)),
        }
    }

    async fn create_database(&self, name: &str) -> Result<(), Error> {
        self.run_sql(&format!("CREATE DATABASE \"{name}\"")).await
    }

    async fn ensure_databases(&self, names: &[String]) -> Result<(), Error> {
        let sql = "SELECT datname FROM pg_database";
        let have: std::collections::HashSet<String> = self
            .client
            .query(sql, &[])
            .await
            .map_err(|e| Error::query(sql, e))?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        for name in names.iter().filter(|n| !have.contains(*n)) {
            self.run_sql(&format!("CREATE DATABASE \"{name}\"")).await?;
        }
        Ok(())
    }

    async fn drop_database(&self, name: &str) -> Result<(), Error> {
        self.run_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
    }

    async fn drop_databases_with_prefix(&self, prefix: &str) -> Result<u64, Error> {
        let sql = "SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1";
        let names: Vec<String> = self
            .client
            .query(sql, &[&prefix])
            .await
            .map_err(|e| Error::query(sql, e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in &names {
            self.drop_database(name).await?;
        }
        Ok(names.len() as u64)
    }

    async fn database_exists(&self, name: &str) -> Result<bool, Error> {
        self.count_query("SELECT count(*) FROM pg_database WHERE datname = $1", name)
            .await
            .map(|n| n > 0)
    }
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("url", &mask_password(self.url.base()))
            .finish_non_exhaustive()
    }
}
