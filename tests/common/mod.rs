//! Shared by the per-backend test binaries: small settings, registries and checkouts. The
//! servers, the CI rule, counting by tag and sampling come from `tenantpool-testkit`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, TransactionManager};
use tenantpool::{
    Backend, DatabaseUrl, PooledConnection, Registry, Settings, StaticDirectory, TenantDirectory,
    TenantId, TenantTarget,
};
#[allow(unused_imports)] // each binary uses part of them
pub use tenantpool_testkit::{
    reserve, wait_until, Count, Database, Databases, Error, Fixture, PeakSampler, TestServer,
};

/// What a test returns: a failing server call fails the test with its message.
pub type TestResult = Result<(), Error>;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

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

pub fn registry<C: Backend>(settings: Settings, directory: impl TenantDirectory) -> Registry<C> {
    init_tracing();
    Registry::<C>::builder(settings)
        .directory(directory)
        .build()
        .expect("registry")
}

pub fn tenant(key: &str) -> TenantId {
    TenantId::parse(key).expect("valid tenant key")
}

/// Checks out `n` connections for `key` at once and keeps them.
pub async fn hold<C: Backend>(
    registry: &Registry<C>,
    key: &str,
    n: usize,
) -> Vec<PooledConnection<C>> {
    let t = tenant(key);
    futures_util::future::try_join_all((0..n).map(|_| registry.get(&t)))
        .await
        .unwrap_or_else(|e| panic!("holding {n} connections for {key}: {e}"))
}

/// A static directory mapping each `(tenant, database)` to its own database, its
/// connections tagged with the fixture's tag.
pub fn databases<S: TestServer>(fixture: &Fixture<S>, pairs: &[(&str, &str)]) -> StaticDirectory {
    let mut dir = StaticDirectory::new();
    for (t, db) in pairs {
        let url = DatabaseUrl::parse(&fixture.url(db)).expect("url");
        dir.insert(tenant(t), TenantTarget::database(url));
    }
    dir
}

/// Tenant `key` with a throwaway database of its own (named `<prefix>_…`), on a registry with
/// `settings` whose connections carry the fixture's tag.
pub async fn one_tenant<C: Backend, S: TestServer>(
    fixture: &Fixture<S>,
    prefix: &str,
    key: &str,
    settings: Settings,
) -> Result<(Database, Registry<C>), Error> {
    let db = fixture.server.throwaway_database(prefix).await?;
    let registry = registry::<C>(settings, databases(fixture, &[(key, db.name())]));
    Ok((db, registry))
}

/// Tenants `a` and `b` with a throwaway database each (named `<prefix>_…_a`, `…_b`), on a
/// registry with `settings` whose connections carry the fixture's tag.
pub async fn two_tenants<C: Backend, S: TestServer>(
    fixture: &Fixture<S>,
    prefix: &str,
    settings: Settings,
) -> Result<(Databases, Registry<C>), Error> {
    let dbs = fixture
        .server
        .throwaway_databases(prefix, &["a", "b"])
        .await?;
    let (a, b) = (dbs.name("a"), dbs.name("b"));
    let registry = registry::<C>(settings, databases(fixture, &[("a", &a), ("b", &b)]));
    Ok((dbs, registry))
}

/// Whether diesel's transaction manager on this connection has a transaction open (or is in
/// an error state).
pub fn diesel_transaction_open<C: AsyncConnection>(conn: &mut C) -> bool {
    !matches!(
        <C::TransactionManager as TransactionManager<C>>::transaction_manager_status_mut(conn)
            .transaction_depth(),
        Ok(None)
    )
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

/// Defines `text` and `number` for one connection type.
macro_rules! sql_helpers {
    ($conn:ty) => {
        /// Runs `sql`, which must return one text column named `value`.
        pub async fn text(conn: &mut $conn, sql: &str) -> String {
            use diesel_async::RunQueryDsl;
            diesel::sql_query(sql)
                .get_result::<crate::common::Row>(conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .value
        }

        /// Runs `sql`, which must return one integer column named `n`.
        #[allow(dead_code)]
        pub async fn number(conn: &mut $conn, sql: &str) -> i64 {
            use diesel_async::RunQueryDsl;
            diesel::sql_query(sql)
                .get_result::<crate::common::Num>(conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .n
        }
    };
}
pub(crate) use sql_helpers;

/// The host:port a URL names (`postgres://user@host:port/...`).
pub fn host_port(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let after_user = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, h)| h);
    after_user
        .split(['/', '?'])
        .next()
        .unwrap_or(after_user)
        .to_string()
}

/// The TLS material `.ci/tls-setup` made (`TENANTPOOL_TEST_TLS_DIR`): a CA the servers'
/// certificates chain to, an unrelated CA, and a client certificate from the first.
pub struct TlsFiles {
    pub ca: String,
    pub wrong_ca: String,
    pub client_cert: String,
    pub client_key: String,
    /// MariaDB's client pair (an RSA PKCS#1 key, the form mysql_async reads).
    pub mysql_client_cert: String,
    pub mysql_client_key: String,
}

/// The TLS files, or `None` (a loud skip; a failure under CI) when `.ci/tls-setup` has not
/// run on this machine.
pub fn tls_files() -> Option<TlsFiles> {
    let dir = match std::env::var("TENANTPOOL_TEST_TLS_DIR") {
        Ok(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => {
            tenantpool_testkit::unavailable(
                "the TLS test material (TENANTPOOL_TEST_TLS_DIR, made by .ci/tls-setup)",
                &"the variable is not set",
            );
            return None;
        }
    };
    let file = |name: &str| dir.join(name).display().to_string();
    let files = TlsFiles {
        ca: file("ca.pem"),
        wrong_ca: file("wrong-ca.pem"),
        client_cert: file("client-cert.pem"),
        client_key: file("client-key.pem"),
        mysql_client_cert: file("mysql-client-cert.pem"),
        mysql_client_key: file("mysql-client-key.pem"),
    };
    if !std::path::Path::new(&files.ca).exists() {
        tenantpool_testkit::unavailable(
            "the TLS test material",
            &format!("{} is missing", files.ca),
        );
        return None;
    }
    Some(files)
}

/// Writes migration `n` (creating table `m<n>`) into `dir`, in diesel's layout.
pub fn write_migration(dir: &Path, n: u32) {
    let folder = dir.join(format!("2026120100000{n}_m{n}"));
    std::fs::create_dir_all(&folder).expect("migration folder");
    std::fs::write(
        folder.join("up.sql"),
        format!("CREATE TABLE m{n} (id INTEGER PRIMARY KEY);\n"),
    )
    .expect("up.sql");
    std::fs::write(folder.join("down.sql"), format!("DROP TABLE m{n};\n")).expect("down.sql");
}

/// A fresh migrations directory with migrations 1..=n.
pub fn migrations_dir(test: &str, n: u32) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join("migrations")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    for i in 1..=n {
        write_migration(&dir, i);
    }
    dir
}
