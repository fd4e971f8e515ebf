//! What every test server handle offers, whatever the database: URLs that tag a test's
//! connections, counts of them on the server, throwaway databases, sampling, and the bounded
//! "no connection leaked" assertion. Generic test code is written against [`TestServer`];
//! each handle adds what only its server has.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cleanup::Cleanup;
use crate::error::Error;
use crate::sampler::{PeakSampler, Reading, SamplerBuilder};
use crate::throwaway::{Database, Databases, Tag};
use crate::wait::POLL_EVERY;

/// Which count a [`TestServer::reading`] (and so a sampler) takes.
///
/// ```
/// use tenantpool_testkit::Count;
///
/// let bounded_by_the_budget = Count::Held { limit: 20 };
/// # let _ = (bounded_by_the_budget, Count::Tagged, Count::WithTotal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Count {
    /// Sessions the server lists for the tag ([`TestServer::count`]).
    Tagged,
    /// Sessions of the tag that this process still holds, beside all it lists
    /// ([`TestServer::count_held`]).
    Held {
        /// While the listed count is within it, it is taken as the held count too.
        limit: i64,
    },
    /// Sessions of the tag, beside all client sessions of the server
    /// ([`TestServer::count_with_total`]).
    WithTotal,
}

/// A real database server for tests: [`PgServer`](crate::PgServer) and
/// [`MySqlServer`](crate::MySqlServer).
///
/// Connections are counted by [`Tag`]: create one per test with [`tag`](Self::tag), put it in
/// every URL the code under test connects with ([`url`](Self::url)), and the server's counts
/// are exactly that test's connections, however many tests share the server.
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use std::time::Duration;
/// use tenantpool_testkit::{PgServer, TestServer};
///
/// async fn leaves_nothing_behind<S: TestServer>(server: &S) -> Result<(), tenantpool_testkit::Error> {
///     let db = server.throwaway_database("tp_demo").await?;
///     let tag = server.tag("tp_demo").await?;
///     let url = server.url(db.name(), &tag);
///     // ... build a registry on `url`, serve requests, shut it down ...
/// #   let _ = url;
///     server.assert_no_connections(&tag, Duration::from_secs(5)).await?;
///     Ok(())
/// }
///
/// let Some(server) = PgServer::from_env().await else { return Ok(()) };
/// leaves_nothing_behind(&server).await
/// # }
/// ```
pub trait TestServer: Send + Sync + Sized + 'static {
    /// The server's name in messages: `"PostgreSQL"`, `"MySQL/MariaDB"`.
    ///
    /// ```
    /// use tenantpool_testkit::{MySqlServer, TestServer};
    /// assert_eq!(MySqlServer::NAME, "MySQL/MariaDB");
    /// ```
    const NAME: &'static str;
    /// The environment variable naming the server: `scheme://user[:password]@host:port`, no
    /// database.
    ///
    /// ```
    /// use tenantpool_testkit::{PgServer, TestServer};
    /// assert_eq!(PgServer::URL_VARIABLE, "TENANTPOOL_TEST_PG_URL");
    /// ```
    const URL_VARIABLE: &'static str;
    /// The server when [`URL_VARIABLE`](Self::URL_VARIABLE) is unset or empty.
    ///
    /// ```
    /// use tenantpool_testkit::{MySqlServer, TestServer};
    /// assert_eq!(MySqlServer::DEFAULT_URL, "mysql://root@127.0.0.1:3306");
    /// ```
    const DEFAULT_URL: &'static str;

    /// Connects to the server at `base_url` (`scheme://user[:password]@host:port`, no
    /// database), without the CI rule: an error is returned.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::{PgServer, TestServer};
    /// let server = PgServer::connect("postgres://postgres@127.0.0.1:5433").await?;
    /// # drop(server);
    /// # Ok(()) }
    /// ```
    fn connect(base_url: &str) -> impl Future<Output = Result<Self, Error>> + Send;

    /// The server's URL from [`URL_VARIABLE`](Self::URL_VARIABLE), or
    /// [`DEFAULT_URL`](Self::DEFAULT_URL).
    ///
    /// ```
    /// use tenantpool_testkit::{PgServer, TestServer};
    /// assert!(PgServer::url_from_env().starts_with("postgres"));
    /// ```
    fn url_from_env() -> String {
        std::env::var(Self::URL_VARIABLE)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| Self::DEFAULT_URL.to_string())
    }

    /// Connects to the server of [`url_from_env`](Self::url_from_env), applying the CI rule
    /// when it cannot: `None` after a loud skip notice, or a panic under CI (see
    /// [`unavailable`](crate::unavailable)).
    ///
    /// # Panics
    ///
    /// Under CI, when the server is unreachable.
    ///
    /// ```no_run
    /// # async fn run() {
    /// use tenantpool_testkit::{MySqlServer, TestServer};
    /// let Some(server) = MySqlServer::from_env().await else {
    ///     return; // skipped: no server, and not under CI
    /// };
    /// # drop(server);
    /// # }
    /// ```
    fn from_env() -> impl Future<Output = Option<Self>> + Send {
        async {
            let url = Self::url_from_env();
            match Self::connect(&url).await {
                Ok(server) => Some(server),
                Err(e) => {
                    let what = format!("{} at {}", Self::NAME, crate::mask_password(&url));
                    crate::unavailable(&what, &e);
                    None
                }
            }
        }
    }

    /// The server's URL, without a database (and with its password, if it has one).
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let template = format!("{}/orders_{{tenant}}", server.base_url());
    /// # let _ = template;
    /// # Ok(()) }
    /// ```
    fn base_url(&self) -> &str;

    /// A URL for `database` whose connections carry `tag`.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let tag = server.tag("tp_orders").await?;
    /// let url = server.url("orders", &tag);
    /// # let _ = url;
    /// # Ok(()) }
    /// ```
    fn url(&self, database: &str, tag: &str) -> String;

    /// A new [`Tag`] with a unique name starting with `prefix`.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let tag = server.tag("tp_orders").await?;
    /// assert!(tag.name().starts_with("tp_orders_"));
    /// # Ok(()) }
    /// ```
    fn tag(&self, prefix: &str) -> impl Future<Output = Result<Tag, Error>> + Send;

    /// Runs `sql` (one or more statements) as the admin.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.run_sql("SELECT 1; SELECT 2").await?;
    /// # Ok(()) }
    /// ```
    fn run_sql(&self, sql: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Runs `sql` (one or more statements) as the admin, in `database`, on a connection of
    /// its own.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let db = server.throwaway_database("tp_orders").await?;
    /// server.run_sql_in(db.name(), "CREATE TABLE orders (id int)").await?;
    /// # Ok(()) }
    /// ```
    fn run_sql_in(
        &self,
        database: &str,
        sql: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Sessions the server lists for `tag`.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let tag = server.tag("tp_orders").await?;
    /// assert_eq!(server.count(&tag).await?, 0);
    /// # Ok(()) }
    /// ```
    fn count(&self, tag: &str) -> impl Future<Output = Result<i64, Error>> + Send;

    /// Sessions of `tag` that this process still holds open (`count`), beside all the server
    /// lists (`wider`): a session whose client has closed its socket stays listed until the
    /// server has noticed, a lag of milliseconds that no client can avoid; the held count
    /// leaves those out. Sessions that cannot be matched to a socket of this process count as
    /// held. While the listed count is within `limit` it bounds the held count, and is taken
    /// for both (matching sockets reads `/proc`, which is slow).
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let now = server.count_held("tp_orders", 4).await?;
    /// assert!(now.count <= 4, "{} held, {} listed", now.count, now.wider);
    /// # Ok(()) }
    /// ```
    fn count_held(
        &self,
        tag: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Reading, Error>> + Send;

    /// Sessions of `tag` (`count`), beside every client session of the server but the
    /// admin's own (`wider`).
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let now = server.count_with_total("tp_orders").await?;
    /// println!("{} of {} client sessions are ours", now.count, now.wider);
    /// # Ok(()) }
    /// ```
    fn count_with_total(&self, tag: &str) -> impl Future<Output = Result<Reading, Error>> + Send;

    /// Sessions of `tag` inside an open transaction.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// assert_eq!(server.count_in_transaction("tp_orders").await?, 0, "a transaction was left open");
    /// # Ok(()) }
    /// ```
    fn count_in_transaction(&self, tag: &str) -> impl Future<Output = Result<i64, Error>> + Send;

    /// Sessions of `tag` running a statement that starts with `prefix` right now.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// assert_eq!(server.count_running("tp_orders", "SELECT pg_sleep").await?, 0);
    /// # Ok(()) }
    /// ```
    fn count_running(
        &self,
        tag: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<i64, Error>> + Send;

    /// Whether a new session (as the admin, in `database`) can run `locking_query` (a
    /// `SELECT ... FOR UPDATE`) inside a transaction within `wait`: `false` when it times out
    /// on a lock somebody else holds.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// # let db = "orders";
    /// let free = server
    ///     .can_lock(db, "SELECT * FROM orders WHERE id = 1 FOR UPDATE", std::time::Duration::from_secs(1))
    ///     .await?;
    /// assert!(free, "a row lock was left behind");
    /// # Ok(()) }
    /// ```
    fn can_lock(
        &self,
        database: &str,
        locking_query: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Creates the database `name`.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let dbs = server.throwaway_databases("tp_orders", &[]).await?;
    /// server.create_database(&dbs.name("late")).await?; // dropped with `dbs`
    /// # Ok(()) }
    /// ```
    fn create_database(&self, name: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Creates the databases of `names` that do not exist yet, and keeps them: fixtures that
    /// tests only read, shared by runs.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.ensure_databases(&["tp_fixture_a".to_string()]).await?;
    /// # Ok(()) }
    /// ```
    fn ensure_databases(&self, names: &[String]) -> impl Future<Output = Result<(), Error>> + Send;

    /// Drops the database `name` if it exists (ending the sessions in it on PostgreSQL).
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.drop_database("tp_leftover").await?;
    /// # Ok(()) }
    /// ```
    fn drop_database(&self, name: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Drops every database whose name starts with `prefix`; returns how many.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// // What killed test processes left behind.
    /// let dropped = server.drop_databases_with_prefix("tp_orders_").await?;
    /// # let _ = dropped;
    /// # Ok(()) }
    /// ```
    fn drop_databases_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Whether the database `name` exists.
    ///
    /// ```no_run
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// assert!(!server.database_exists("tp_never_created").await?);
    /// # Ok(()) }
    /// ```
    fn database_exists(&self, name: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A new database named `name`, replacing one a crashed run left behind, dropped again
    /// with the handle.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let name = tenantpool_testkit::unique("tp_notes");
    /// let db = server.fresh_database(&name).await?;
    /// assert_eq!(db.name(), name);
    /// # Ok(()) }
    /// ```
    fn fresh_database(&self, name: &str) -> impl Future<Output = Result<Database, Error>> + Send {
        let name = name.to_string();
        async move {
            self.drop_database(&name).await?;
            self.create_database(&name).await?;
            let (base, db) = (self.base_url().to_string(), name.clone());
            let cleanup = Cleanup::new(format!("database {name}"), move || async move {
                Self::connect(&base).await?.drop_database(&db).await
            });
            Ok(Database::new(name, cleanup))
        }
    }

    /// Databases `<prefix>_<pid>_…_<suffix>` for each of `suffixes`, with a unique prefix:
    /// every database whose name starts with that prefix is dropped with the handle, also
    /// those the code under test created later (a template directory's
    /// `<prefix>_{tenant}`, a schema target created on first use).
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let dbs = server.throwaway_databases("tp_notes", &["acme", "globex"]).await?;
    /// let template = format!("{}/{}_{{tenant}}", server.base_url(), dbs.prefix());
    /// assert!(dbs.name("acme").ends_with("_acme"));
    /// # let _ = template;
    /// # Ok(()) }
    /// ```
    fn throwaway_databases(
        &self,
        prefix: &str,
        suffixes: &[&str],
    ) -> impl Future<Output = Result<Databases, Error>> + Send {
        let prefix = crate::unique(prefix);
        let names: Vec<String> = suffixes.iter().map(|s| format!("{prefix}_{s}")).collect();
        async move {
            let base = self.base_url().to_string();
            let pattern = format!("{prefix}_");
            let cleanup = Cleanup::new(format!("databases {pattern}*"), move || async move {
                Self::connect(&base)
                    .await?
                    .drop_databases_with_prefix(&pattern)
                    .await
                    .map(drop)
            });
            let family = Databases::new(prefix, cleanup);
            for name in &names {
                self.create_database(name).await?;
            }
            Ok(family)
        }
    }

    /// A new database with a unique name starting with `prefix`, dropped with the handle.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let db = server.throwaway_database("tp_orders").await?;
    /// server.run_sql_in(db.name(), "CREATE TABLE t (id int)").await?;
    /// # Ok(()) }
    /// ```
    fn throwaway_database(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Database, Error>> + Send {
        let name = crate::unique(prefix);
        async move { self.fresh_database(&name).await }
    }

    /// One count of the kind `count`.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::{Count, TestServer};
    /// let now = server.reading("tp_orders", Count::Held { limit: 4 }).await?;
    /// assert!(now.count <= now.wider);
    /// # Ok(()) }
    /// ```
    fn reading(
        &self,
        tag: &str,
        count: Count,
    ) -> impl Future<Output = Result<Reading, Error>> + Send {
        async move {
            match count {
                Count::Tagged => self.count(tag).await.map(Reading::from),
                Count::Held { limit } => self.count_held(tag, limit).await,
                Count::WithTotal => self.count_with_total(tag).await,
            }
        }
    }

    /// Samples `count` for `tag` every 2 ms on a connection of its own until
    /// [`PeakSampler::finish`].
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::{Count, TestServer};
    /// let sampler = server.sampler("tp_orders", Count::Tagged).await?;
    /// // ... the load ...
    /// let peaks = sampler.finish().await?;
    /// assert!(peaks.peak <= 20, "peak {} over the budget", peaks.peak);
    /// # Ok(()) }
    /// ```
    fn sampler(
        &self,
        tag: &str,
        count: Count,
    ) -> impl Future<Output = Result<PeakSampler, Error>> + Send {
        self.sampler_with(PeakSampler::builder(), tag, count)
    }

    /// [`sampler`](Self::sampler) with other options.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use std::time::Duration;
    /// use tenantpool_testkit::{Count, PeakSampler, TestServer};
    /// let options = PeakSampler::builder().every(Duration::from_millis(5)).limit(20);
    /// let sampler = server.sampler_with(options, "tp_bench", Count::WithTotal).await?;
    /// let over = sampler.finish().await?.over_limit;
    /// # let _ = over;
    /// # Ok(()) }
    /// ```
    fn sampler_with(
        &self,
        options: SamplerBuilder,
        tag: &str,
        count: Count,
    ) -> impl Future<Output = Result<PeakSampler, Error>> + Send {
        let base = self.base_url().to_string();
        let tag = tag.to_string();
        options.start_with(move || async move {
            let server = Self::connect(&base).await?;
            Ok(async move || server.reading(&tag, count).await)
        })
    }

    /// Waits (up to `timeout`) until the server lists no session of `tag`; returns the last
    /// count and how long it waited. See [`assert_no_connections`](Self::assert_no_connections)
    /// for the assertion.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use std::time::Duration;
    /// use tenantpool_testkit::TestServer;
    /// let (left, took) = server.wait_for_zero("tp_orders", Duration::from_secs(5)).await?;
    /// assert_eq!(left, 0, "connections left after {took:?}");
    /// # Ok(()) }
    /// ```
    fn wait_for_zero(
        &self,
        tag: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(i64, Duration), Error>> + Send {
        async move {
            let started = Instant::now();
            loop {
                let n = self.count(tag).await?;
                if n == 0 || started.elapsed() >= timeout {
                    return Ok((n, started.elapsed()));
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }

    /// "No connection leaked": waits (up to `within`) until the server lists no session of
    /// `tag`, and fails with [`Error::Leaked`] (how many remained, how long it waited) if
    /// some still do. Returns how long the connections took to go.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use std::time::Duration;
    /// use tenantpool_testkit::TestServer;
    /// // ... registry.shutdown(...).await ...
    /// server.assert_no_connections("tp_orders", Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    fn assert_no_connections(
        &self,
        tag: &str,
        within: Duration,
    ) -> impl Future<Output = Result<Duration, Error>> + Send {
        async move {
            match self.wait_for_zero(tag, within).await? {
                (0, took) => Ok(took),
                (remaining, waited) => Err(Error::Leaked {
                    tag: tag.to_string(),
                    remaining,
                    waited,
                }),
            }
        }
    }
}
