//! Which backend a URL names: PostgreSQL, MySQL/MariaDB or SQLite.

use std::fmt;

/// The backends a URL can name.
///
/// ```
/// use tenantpool_core::{BackendKind, DatabaseUrl};
/// let url = DatabaseUrl::parse("mysql://root@127.0.0.1:3306/test")?;
/// assert_eq!(url.kind(), BackendKind::Mysql);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    Mysql,
    /// SQLite (`sqlite://path` or `sqlite:path`).
    Sqlite,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        })
    }
}
