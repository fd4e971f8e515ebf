//! The catalog's connection to its control database, of whichever backend its URL names.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;

use super::CatalogError;
use crate::backend::{Backend, ConnectContext, ConnectionPermit};
use crate::{BackendKind, DatabaseUrl, IoRuntime};

/// One connection to the control database. Not boxed: there is one per catalog, and the
/// variants are matched on every query.
#[allow(clippy::large_enum_variant)]
pub(super) enum CatalogConnection {
    #[cfg(feature = "postgres")]
    Pg(diesel_async::AsyncPgConnection),
    #[cfg(feature = "mysql")]
    Mysql(diesel_async::AsyncMysqlConnection),
    #[cfg(feature = "sqlite")]
    Sqlite(crate::SqliteConnection),
}

/// Runs `$body` with `$c` bound to the connection inside, whatever its backend: the body is
/// compiled once per backend, so diesel's query builder writes each backend's SQL.
macro_rules! on_connection {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::catalog::connection::CatalogConnection::Pg($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::catalog::connection::CatalogConnection::Mysql($c) => $body,
            #[cfg(feature = "sqlite")]
            $crate::catalog::connection::CatalogConnection::Sqlite($c) => $body,
        }
    };
}
pub(super) use on_connection;

impl CatalogConnection {
    /// Opens a connection to `url`, driven by `io`, with the same TLS settings and checks as
    /// tenant connections. `create` creates a SQLite file that is missing.
    pub(super) async fn open(
        url: &DatabaseUrl,
        io: &IoRuntime,
        timeout: Duration,
        create: bool,
    ) -> Result<Self, CatalogError> {
        let ctx = || ConnectContext {
            io: io.clone(),
            permit: ConnectionPermit::unbudgeted(),
            timeout,
            create_missing: create,
        };
        let failed = |e: crate::backend::ConnectFailure| match e {
            crate::backend::ConnectFailure::DatabaseMissing => CatalogError::NotInstalled(format!(
                "the database {} does not exist",
                url.database().unwrap_or_default()
            )),
            other => CatalogError::Unavailable(url.redact(&other.to_string())),
        };
        match url.kind() {
            #[cfg(feature = "postgres")]
            BackendKind::Postgres => {
                let (conn, _) = diesel_async::AsyncPgConnection::connect(url.clone(), ctx())
                    .await
                    .map_err(failed)?;
                Ok(Self::Pg(conn))
            }
            #[cfg(feature = "mysql")]
            BackendKind::Mysql => {
                let (conn, _) = diesel_async::AsyncMysqlConnection::connect(url.clone(), ctx())
                    .await
                    .map_err(failed)?;
                Ok(Self::Mysql(conn))
            }
            #[cfg(feature = "sqlite")]
            BackendKind::Sqlite => {
                let (conn, _) = crate::SqliteConnection::connect(url.clone(), ctx())
                    .await
                    .map_err(failed)?;
                Ok(Self::Sqlite(conn))
            }
            #[allow(unreachable_patterns)]
            other => Err(CatalogError::Unsupported(format!(
                "this build has no {other} support (enable the `{other}` feature)"
            ))),
        }
    }

    /// The backend of the control database.
    pub(super) fn kind(&self) -> BackendKind {
        match self {
            #[cfg(feature = "postgres")]
            Self::Pg(_) => BackendKind::Postgres,
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => BackendKind::Mysql,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// Runs one statement without results.
    pub(super) async fn execute(&mut self, sql: &str) -> diesel::QueryResult<()> {
        on_connection!(self, c => c.batch_execute(sql).await)
    }

    /// Whether the connection must not be used again (an error left it in doubt).
    pub(super) fn is_dirty(&mut self) -> bool {
        on_connection!(self, c => Backend::is_dirty(c))
    }
}
