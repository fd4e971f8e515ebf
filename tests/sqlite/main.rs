//! The core's behaviours on SQLite: one database file per tenant under a per-test data
//! directory. Connections are counted by the registry's stats and, where it is exact, by the
//! file descriptors this process holds on a tenant's database file.
//!
//! Several tests run on tokio's current-thread runtime on purpose: every actix worker is one,
//! and a cancelled SQLite call must not panic there.

#[path = "../common/mod.rs"]
mod common;

mod budget;
mod cancel;
mod catalog;
mod context;
mod errors;
mod lifecycle;
mod pressure;
mod safety;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tenantpool::{Registry, Settings, SqliteConnection, TenantDirectory};

pub use crate::common::{diesel_transaction_open, hold, settings, tenant, Num, Row};

pub type Lite = SqliteConnection;

/// A recursive CTE that keeps SQLite busy for a while (about a second or more in a debug build).
pub const SLOW_QUERY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                              WHERE x < 2000000) SELECT count(*) AS n FROM c";

pub fn registry(settings: Settings, directory: impl TenantDirectory) -> Registry<Lite> {
    common::registry(settings, directory)
}

/// A fresh, empty data directory for one test.
pub fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join("sqlite")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean the test's data directory");
    }
    std::fs::create_dir_all(&dir).expect("create the test's data directory");
    dir
}

/// The URL of a tenant's file: `sqlite://<dir>/<name>.db`.
pub fn file_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}/{name}.db", dir.display())
}

/// The file behind `file_url(dir, name)`.
pub fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

/// File descriptors this process holds on `path` (each open SQLite connection holds one on
/// its database file), or `None` where `/proc/self/fd` cannot be read.
pub fn open_fds(path: &Path) -> Option<i64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|target| target == path)
            .count() as i64,
    )
}

/// File descriptors this process holds on any `*.db` file directly inside `dir`.
pub fn open_db_fds(dir: &Path) -> Option<i64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|t| t.parent() == Some(dir) && t.extension().is_some_and(|x| x == "db"))
            .count() as i64,
    )
}

common::sql_helpers!(Lite);

/// Whether the SQLite session is inside a transaction, asked of SQLite itself: `BEGIN` fails
/// inside one. Leaves no transaction behind.
pub async fn in_transaction(conn: &mut Lite) -> bool {
    conn.spawn_blocking(|c| {
        use diesel::connection::SimpleConnection;
        match c.batch_execute("BEGIN") {
            Ok(()) => c.batch_execute("ROLLBACK").map(|()| false),
            Err(_) => Ok(true),
        }
    })
    .await
    .expect("probe the transaction state")
}

/// True when another connection to the file can take SQLite's write lock (`BEGIN IMMEDIATE`)
/// within `wait`: nobody holds an uncommitted write.
pub async fn write_lock_is_free(path: &Path, wait: Duration) -> bool {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut c = diesel::SqliteConnection::establish(&path.display().to_string())
            .expect("probe connection");
        c.batch_execute(&format!("PRAGMA busy_timeout = {}", wait.as_millis()))
            .expect("busy timeout");
        match c.batch_execute("BEGIN IMMEDIATE") {
            Ok(()) => {
                c.batch_execute("ROLLBACK").expect("rollback the probe");
                true
            }
            Err(_) => false,
        }
    })
    .await
    .expect("probe task")
}
