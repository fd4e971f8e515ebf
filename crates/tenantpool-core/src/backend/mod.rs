//! Backends: how to open, check and switch a connection of one database kind.
//!
//! A backend is implemented on the diesel-async connection type itself, so that
//! `Registry<AsyncPgConnection>` hands out guards that deref to an `AsyncPgConnection`. The
//! crate implements it for PostgreSQL (`postgres` feature), MySQL/MariaDB (`mysql`) and SQLite
//! (`sqlite`, as [`SqliteConnection`]).

use std::future::Future;
use std::time::Duration;

use diesel::result::QueryResult;
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection, TransactionManager};
use futures_util::future::BoxFuture;

use crate::{BackendKind, DatabaseUrl, IoRuntime, SchemaName};

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::postgres_tls_connector;
#[cfg(feature = "postgres")]
pub(crate) use self::postgres::ssl_mode as postgres_ssl_mode;
#[cfg(feature = "postgres")]
mod rustls_config;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use self::sqlite::{BlockingSpawner, SqliteConnection};
pub use crate::budget::ConnectionPermit;

/// What a backend needs to open one connection.
///
/// ```no_run
/// # fn f(ctx: tenantpool_core::backend::ConnectContext) {
/// let _deadline = ctx.timeout;
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectContext {
    /// The runtime that must own the connection's I/O and driver tasks.
    pub io: IoRuntime,
    /// The budget permit. Keep it alive exactly as long as the server-side connection exists:
    /// either inside the connection's driver task, or by returning it with the connection.
    pub permit: ConnectionPermit,
    /// How long the connect may take in all.
    pub timeout: Duration,
    /// Create the database file (SQLite) when it is missing.
    pub create_missing: bool,
}

/// Why a connect failed.
///
/// ```
/// let f = tenantpool_core::backend::ConnectFailure::Unavailable("connection refused".into());
/// assert!(f.to_string().contains("refused"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The server answered that the database does not exist.
    #[error("the database does not exist")]
    DatabaseMissing,
    /// The server could not be reached, refused the connection, or failed during setup.
    #[error("{0}")]
    Unavailable(String),
    /// The connect did not finish within the connect timeout.
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    /// TLS could not be set up: a certificate that failed its check, a server without TLS
    /// under a mode that requires it, an unreadable root or key file. A setting to fix, not
    /// an unavailable server: the server is not marked down for it.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A diesel-async connection type the registry can pool.
///
/// Implemented for `AsyncPgConnection`, `AsyncMysqlConnection` and [`SqliteConnection`].
/// Implementing it for another type is possible but rarely needed.
///
/// ```
/// fn pooled<C: tenantpool_core::Backend>() -> tenantpool_core::BackendKind {
///     C::KIND
/// }
/// ```
pub trait Backend: AsyncConnection + PoolableConnection + Send + Sized + 'static {
    /// The kind of database this connects to.
    const KIND: BackendKind;

    /// Opens a connection to `url`, on `ctx.io`, within `ctx.timeout`.
    ///
    /// Returns the connection and, when the connection cannot hold it itself, the permit to
    /// be dropped together with the connection.
    fn connect(
        url: DatabaseUrl,
        ctx: ConnectContext,
    ) -> impl Future<Output = Result<(Self, Option<ConnectionPermit>), ConnectFailure>> + Send;

    /// A round trip proving the connection works.
    fn validate(&mut self) -> impl Future<Output = QueryResult<()>> + Send;

    /// Makes `schema` the connection's schema (PostgreSQL `search_path`, MySQL `USE`).
    fn switch_schema(
        &mut self,
        schema: &SchemaName,
    ) -> impl Future<Output = QueryResult<()>> + Send;

    /// Whether `schema` exists; creates it first when `create` is true.
    fn ensure_schema(
        &mut self,
        schema: &SchemaName,
        create: bool,
    ) -> impl Future<Output = QueryResult<bool>> + Send;

    /// How many connections the server accepts from clients like this one (PostgreSQL:
    /// `max_connections` less `superuser_reserved_connections` and `reserved_connections`;
    /// MySQL: `max_connections`), or `None` when it has no such limit (SQLite, the default).
    /// Read once per server and process, on its first connection (see `budget.replicas`).
    fn server_capacity(&mut self) -> impl Future<Output = QueryResult<Option<u64>>> + Send {
        async { Ok(None) }
    }

    /// Called once on each new connection of a pool shared by several tenants (schema mode),
    /// before its first use. MySQL disables its prepared-statement cache here, because a
    /// MySQL prepared statement keeps resolving tables in the database that was current when
    /// it was prepared.
    fn prepare_for_sharing(&mut self) {}

    /// For a dirty connection about to be closed, which may be in the middle of a statement
    /// whose future was dropped: a request that makes the server stop that statement now
    /// (releasing its locks) instead of when it would have ended. PostgreSQL sends a cancel
    /// request, MySQL a `KILL QUERY` from a short-lived second session. The registry runs it
    /// on the I/O runtime (under a budget permit of its own when it opens a session, see
    /// [`ABANDON_OPENS_SESSION`](Self::ABANDON_OPENS_SESSION)), then closes the connection.
    fn abandon(&mut self, _url: &DatabaseUrl) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// Whether the request from [`abandon`](Self::abandon) opens a session on the server
    /// (and so needs a budget permit of its own). A PostgreSQL cancel request never becomes a
    /// backend; a MySQL `KILL QUERY` needs a session.
    const ABANDON_OPENS_SESSION: bool = true;

    /// Closes the connection; `permit` must be released only once the server-side session
    /// is gone. `clean` is false for abandoned connections, which must not be drained. The
    /// default drops the connection, then the permit.
    fn close(self, permit: Option<ConnectionPermit>, _io: &IoRuntime, _clean: bool) {
        drop(self);
        drop(permit);
    }

    /// Whether the connection's socket is known to be closed (a local check). PostgreSQL
    /// knows (its driver task ends with the socket); the default cannot tell and says no.
    fn is_closed(&mut self) -> bool {
        false
    }

    /// A local check (no I/O) for a connection that must not be reused: a transaction still
    /// open, a transaction manager in an error state or interrupted mid-BEGIN/COMMIT, a closed
    /// socket.
    fn is_dirty(&mut self) -> bool {
        let depth_open = !matches!(
            Self::TransactionManager::transaction_manager_status_mut(self).transaction_depth(),
            Ok(None)
        );
        depth_open || PoolableConnection::is_broken(self)
    }
}

/// Quotes an identifier already validated by [`SchemaName`] (no quotes inside).
pub(crate) fn quoted(schema: &SchemaName, quote: char) -> String {
    format!("{quote}{}{quote}", schema.as_str())
}

/// Runs a connect on the I/O runtime, bounded by the timeout, and turns a failed join into a
/// connect failure.
pub(crate) async fn on_io<T, F>(
    io: &IoRuntime,
    timeout: Duration,
    fut: F,
) -> Result<T, ConnectFailure>
where
    F: Future<Output = Result<T, ConnectFailure>> + Send + 'static,
    T: Send + 'static,
{
    let task = io.handle().spawn(async move {
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| ConnectFailure::Timeout(timeout))?
    });
    task.await
        .map_err(|e| ConnectFailure::Unavailable(format!("connect task failed: {e}")))?
}

/// Whether a diesel error says the connection to the server was lost (a closed socket, a
/// terminated backend, a server shutting down or not yet accepting connections), as opposed
/// to the query itself failing. Such errors mean "the database is unavailable right now":
/// the web adapter answers them with 503 and `Retry-After`.
///
/// ```
/// use diesel::result::{DatabaseErrorKind, Error};
/// let lost = Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_string()));
/// assert!(tenantpool_core::is_connection_error(&lost));
/// assert!(!tenantpool_core::is_connection_error(&Error::NotFound));
/// ```
pub fn is_connection_error(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        )
        | Error::BrokenTransactionManager => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            // PostgreSQL's FATAL messages of SQLSTATE classes 57P and 08, and MySQL's
            // client-side I/O errors, as diesel-async passes them on.
            [
                "terminating connection",
                "the database system is",
                "server closed the connection",
                "connection closed",
                "connection reset",
                "broken pipe",
                "lost connection",
                "connectionclosed",
                "input/output error",
                "server has gone away",
            ]
            .iter()
            .any(|needle| message.contains(needle))
        }
        _ => false,
    }
}
