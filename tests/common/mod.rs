//! Shared by the per-backend test binaries: reaching the real servers, counting connections on
//! them, and the "fail under CI, skip loudly elsewhere" rule.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// True when running under CI: an unreachable database is then a failure, not a skip.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Reports an unreachable server: panics under CI, prints a loud notice otherwise.
pub fn unreachable_server(what: &str, url: &str, err: &dyn std::fmt::Display) {
    let message = format!("{what} at {url} is unreachable: {err}");
    if in_ci() {
        panic!("{message} (CI=true: database tests must not be skipped)");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {message}");
    eprintln!("!!! Start the server (see README) or set CI=true to make this a failure.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `probe` until `done` holds or `timeout` passes; returns the last value and the time
/// it took.
pub async fn wait_until<T, F, Fut>(
    timeout: Duration,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let value = probe().await;
        if done(&value) || started.elapsed() >= timeout {
            return (value, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Samples a connection count in the background and remembers the maximum.
pub struct PeakSampler {
    peak: Arc<AtomicI64>,
    samples: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    pub fn start<F, Fut>(mut count: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = i64> + Send,
    {
        let peak = Arc::new(AtomicI64::new(0));
        let samples = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s, st) = (peak.clone(), samples.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !st.load(Ordering::Relaxed) {
                let n = count().await;
                p.fetch_max(n, Ordering::Relaxed);
                s.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Self {
            peak,
            samples,
            stop,
            task,
        }
    }

    /// Stops sampling; returns (peak, number of samples).
    pub async fn finish(self) -> (i64, i64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        (
            self.peak.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
        )
    }
}

#[cfg(feature = "postgres")]
pub mod pg {
    use super::*;

    /// `postgres://user[:password]@host:port`, without a database.
    pub fn base_url() -> String {
        std::env::var("TENANTPOOL_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
            .trim_end_matches('/')
            .to_string()
    }

    /// A URL for `database`, tagged with `app` so that the test can count its connections.
    pub fn url(database: &str, app: &str) -> String {
        format!("{}/{database}?application_name={app}", base_url())
    }

    /// An admin connection to the `postgres` database.
    pub struct Admin {
        client: tokio_postgres::Client,
    }

    /// Connects, or reports the server unreachable (panic under CI, loud skip otherwise).
    pub async fn admin() -> Option<Admin> {
        let url = format!("{}/postgres?application_name=tp_admin", base_url());
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Some(Admin { client })
            }
            Err(e) => {
                unreachable_server("PostgreSQL", &base_url(), &e);
                None
            }
        }
    }

    impl Admin {
        pub async fn exec(&self, sql: &str) {
            self.client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }

        /// Server-side connections tagged `app`.
        pub async fn count(&self, app: &str) -> i64 {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .map(|row| row.get::<_, i64>(0))
                .unwrap_or(-1)
        }

        /// Sessions tagged `app` that sit idle inside a transaction.
        pub async fn count_in_transaction(&self, app: &str) -> i64 {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND state LIKE 'idle in transaction%'",
                    &[&app],
                )
                .await
                .map(|row| row.get::<_, i64>(0))
                .unwrap_or(-1)
        }

        /// Sessions tagged `app` that are running `query` right now.
        pub async fn count_running(&self, app: &str, query: &str) -> i64 {
            self.client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                     AND state = 'active' AND query = $2",
                    &[&app, &query],
                )
                .await
                .map(|row| row.get::<_, i64>(0))
                .unwrap_or(-1)
        }

        /// Creates the databases that do not exist yet (one session, like `\gexec`).
        pub async fn ensure_databases(&self, names: &[String]) {
            let rows = self
                .client
                .query("SELECT datname FROM pg_database", &[])
                .await
                .expect("list databases");
            let have: std::collections::HashSet<String> =
                rows.iter().map(|r| r.get::<_, String>(0)).collect();
            for name in names.iter().filter(|n| !have.contains(*n)) {
                self.exec(&format!("CREATE DATABASE \"{name}\"")).await;
            }
        }

        pub async fn drop_database(&self, name: &str) {
            self.exec(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }

        /// A fresh database with these schemas, each holding `item(id int, owner text)`
        /// with one row naming the schema.
        pub async fn database_with_schemas(&self, db: &str, schemas: &[String], app: &str) {
            self.drop_database(db).await;
            self.exec(&format!("CREATE DATABASE \"{db}\"")).await;
            let (client, conn) = tokio_postgres::connect(&url(db, app), tokio_postgres::NoTls)
                .await
                .expect("connect to the new database");
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut sql = String::new();
            for s in schemas {
                sql.push_str(&format!(
                    "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".item (id int, owner text); \
                     INSERT INTO \"{s}\".item VALUES (1, '{s}');"
                ));
            }
            client.batch_execute(&sql).await.expect("create schemas");
            drop(client);
            let _ = driver.await;
        }

        /// Waits until the server shows no connection tagged `app`; returns how long it took.
        pub async fn wait_for_zero(&self, app: &str, timeout: Duration) -> (i64, Duration) {
            wait_until(timeout, || self.count(app), |n| *n == 0).await
        }
    }

    /// Samples `count(app)` on its own admin connection.
    pub async fn sampler(app: &str) -> PeakSampler {
        let admin = admin().await.expect("admin connection for the sampler");
        let app = app.to_string();
        let admin = Arc::new(admin);
        PeakSampler::start(move || {
            let admin = admin.clone();
            let app = app.clone();
            async move { admin.count(&app).await }
        })
    }
}

#[cfg(feature = "mysql")]
pub mod my {
    use super::*;
    use mysql_async::prelude::Queryable;

    /// `mysql://root@host:port`, without a database.
    pub fn base_url() -> String {
        std::env::var("TENANTPOOL_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
            .trim_end_matches('/')
            .to_string()
    }

    fn host_part() -> String {
        let base = base_url();
        base.rsplit('@')
            .next()
            .unwrap_or("127.0.0.1:3306")
            .to_string()
    }

    /// A URL for `user` (a per-test account, so that the test can count its connections).
    pub fn url(user: &str, database: Option<&str>) -> String {
        match database {
            Some(db) => format!("mysql://{user}@{}/{db}", host_part()),
            None => format!("mysql://{user}@{}", host_part()),
        }
    }

    pub struct Admin {
        pool: mysql_async::Pool,
    }

    pub async fn admin() -> Option<Admin> {
        let pool = match mysql_async::Opts::from_url(&base_url()) {
            Ok(opts) => mysql_async::Pool::new(opts),
            Err(e) => panic!("bad TENANTPOOL_TEST_MYSQL_URL: {e}"),
        };
        match pool.get_conn().await {
            Ok(_) => Some(Admin { pool }),
            Err(e) => {
                unreachable_server("MariaDB/MySQL", &base_url(), &e);
                None
            }
        }
    }

    impl Admin {
        pub async fn exec(&self, sql: &str) {
            let mut conn = self.pool.get_conn().await.expect("admin connection");
            conn.query_drop(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }

        /// A per-test account with every privilege and no password.
        pub async fn user(&self, user: &str) {
            self.exec(&format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%'; GRANT ALL ON *.* TO '{user}'@'%'"
            ))
            .await;
        }

        /// Server-side connections of `user`.
        pub async fn count(&self, user: &str) -> i64 {
            let Ok(mut conn) = self.pool.get_conn().await else {
                return -1;
            };
            conn.exec_first::<i64, _, _>(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
                (user,),
            )
            .await
            .ok()
            .flatten()
            .unwrap_or(-1)
        }

        /// Fresh databases, each holding `item(id int, owner text)` with one row naming it.
        pub async fn databases_with_items(&self, names: &[String]) {
            let mut sql = String::new();
            for n in names {
                sql.push_str(&format!(
                    "DROP DATABASE IF EXISTS `{n}`; CREATE DATABASE `{n}`; \
                     CREATE TABLE `{n}`.item (id INT PRIMARY KEY, owner TEXT) ENGINE=InnoDB; \
                     INSERT INTO `{n}`.item VALUES (1, '{n}');"
                ));
            }
            self.exec(&sql).await;
        }

        pub async fn wait_for_zero(&self, user: &str, timeout: Duration) -> (i64, Duration) {
            wait_until(timeout, || self.count(user), |n| *n == 0).await
        }
    }

    pub async fn sampler(user: &str) -> PeakSampler {
        let admin = Arc::new(admin().await.expect("admin connection for the sampler"));
        let user = user.to_string();
        PeakSampler::start(move || {
            let admin = admin.clone();
            let user = user.clone();
            async move { admin.count(&user).await }
        })
    }

    impl Admin {
        /// Runs `sql`, reporting a failure instead of panicking.
        pub async fn try_exec(&self, sql: &str) -> Result<(), mysql_async::Error> {
            let mut conn = self.pool.get_conn().await?;
            conn.query_drop(sql).await
        }

        /// A fresh per-test account with every privilege and this password.
        pub async fn user_with_password(&self, user: &str, password: &str) {
            self.exec(&format!(
                "DROP USER IF EXISTS '{user}'@'%'; \
                 CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; \
                 GRANT ALL ON *.* TO '{user}'@'%'"
            ))
            .await;
        }

        /// Sessions of `user` with an open InnoDB transaction.
        pub async fn count_in_transaction(&self, user: &str) -> i64 {
            let Ok(mut conn) = self.pool.get_conn().await else {
                return -1;
            };
            conn.exec_first::<i64, _, _>(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
                 JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                 WHERE p.USER = ?",
                (user,),
            )
            .await
            .ok()
            .flatten()
            .unwrap_or(-1)
        }

        /// Whether the database `name` exists.
        pub async fn database_exists(&self, name: &str) -> bool {
            let mut conn = self.pool.get_conn().await.expect("admin connection");
            conn.exec_first::<i64, _, _>(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (name,),
            )
            .await
            .expect("list databases")
            .unwrap_or(0)
                > 0
        }

        pub async fn drop_database(&self, name: &str) {
            self.exec(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .await;
        }

        /// Closes a session on the server.
        pub async fn kill(&self, connection_id: i64) {
            self.exec(&format!("KILL CONNECTION {connection_id}")).await;
        }

        /// Sessions of `user` running a statement whose text starts with `prefix`.
        pub async fn count_running(&self, user: &str, prefix: &str) -> i64 {
            let Ok(mut conn) = self.pool.get_conn().await else {
                return -1;
            };
            conn.exec_first::<i64, _, _>(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE USER = ? AND INFO LIKE CONCAT(?, '%')",
                (user, prefix),
            )
            .await
            .ok()
            .flatten()
            .unwrap_or(-1)
        }
    }

    impl Admin {
        /// Server-side sessions of `user` that this process still holds open: the sessions
        /// listed in `PROCESSLIST` minus those whose client socket this process has already
        /// closed (the server lists a session until its thread has noticed the close and
        /// cleaned up, a lag of milliseconds on a busy machine that no client can avoid).
        /// Sessions that cannot be matched to a local TCP port (a Unix socket, no `/proc`)
        /// are counted. While the raw count is within `limit`, it is returned as is (it bounds
        /// the held count, and reading `/proc` is slow).
        pub async fn count_held(&self, user: &str, limit: i64) -> i64 {
            let Ok(mut conn) = self.pool.get_conn().await else {
                return -1;
            };
            let Ok(hosts) = conn
                .exec::<String, _, _>(
                    "SELECT HOST FROM information_schema.PROCESSLIST WHERE USER = ?",
                    (user,),
                )
                .await
            else {
                return -1;
            };
            if hosts.len() as i64 <= limit {
                return hosts.len() as i64;
            }
            let held = local_ports_connected_to(server_port());
            hosts
                .iter()
                .filter(|host| {
                    let port = host
                        .rsplit_once(':')
                        .and_then(|(_, p)| p.parse::<u16>().ok());
                    match (port, &held) {
                        (Some(port), Some(held)) => held.contains(&port),
                        _ => true,
                    }
                })
                .count() as i64
        }
    }

    /// Samples `count_held(user, limit)` (see there) on its own admin connection.
    pub async fn held_sampler(user: &str, limit: i64) -> PeakSampler {
        let admin = Arc::new(admin().await.expect("admin connection for the sampler"));
        let user = user.to_string();
        PeakSampler::start(move || {
            let admin = admin.clone();
            let user = user.clone();
            async move { admin.count_held(&user, limit).await }
        })
    }

    /// The server's TCP port, from the base URL.
    fn server_port() -> u16 {
        host_part()
            .rsplit_once(':')
            .and_then(|(_, p)| p.split('/').next()?.parse().ok())
            .unwrap_or(3306)
    }

    /// Local ports of the TCP connections this process holds open to `server_port`, from
    /// `/proc`; `None` where `/proc` cannot be read.
    fn local_ports_connected_to(server_port: u16) -> Option<std::collections::HashSet<u16>> {
        let inodes: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter_map(|target| {
                let target = target.to_str()?;
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect();
        let mut ports = std::collections::HashSet::new();
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() < 10 {
                    continue;
                }
                let port = |addr: &str| {
                    addr.rsplit_once(':')
                        .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                };
                let (Some(local), Some(remote), Ok(inode)) =
                    (port(fields[1]), port(fields[2]), fields[9].parse::<u64>())
                else {
                    continue;
                };
                if remote == server_port && inodes.contains(&inode) {
                    ports.insert(local);
                }
            }
        }
        Some(ports)
    }

    /// True when a fresh session (as the admin) can take the lock on row `id = 1` of
    /// `db.table` within `wait_secs` seconds (`innodb_lock_wait_timeout`).
    pub async fn row_lock_is_free(db: &str, table: &str, wait_secs: u32) -> bool {
        let url = format!("{}/{db}", base_url());
        let opts = mysql_async::Opts::from_url(&url).expect("probe URL");
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .expect("probe connection");
        conn.query_drop(format!(
            "SET SESSION innodb_lock_wait_timeout = {wait_secs}"
        ))
        .await
        .expect("set the lock wait timeout");
        conn.query_drop("START TRANSACTION").await.expect("begin");
        let locked = conn
            .query_drop(format!("SELECT id FROM `{table}` WHERE id = 1 FOR UPDATE"))
            .await;
        let _ = conn.query_drop("ROLLBACK").await;
        let _ = conn.disconnect().await;
        match locked {
            Ok(()) => true,
            // 1205: Lock wait timeout exceeded.
            Err(mysql_async::Error::Server(e)) if e.code == 1205 => false,
            Err(e) => panic!("probing the row lock on {db}.{table}: {e}"),
        }
    }
}

/// Connections the tests of one binary may hold on a server at once. Each test reserves its
/// budget (plus its admin and sampler connections) before it starts, so that parallel tests
/// never add up past the server's `max_connections` and fail for reasons unrelated to the
/// code under test.
static SERVER_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(80);

/// Reserves `n` server connections for the calling test.
pub async fn reserve(n: u32) -> tokio::sync::SemaphorePermit<'static> {
    SERVER_SLOTS
        .acquire_many(n.min(80))
        .await
        .expect("the slot semaphore is never closed")
}
