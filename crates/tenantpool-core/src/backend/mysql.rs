//! MySQL and MariaDB through `AsyncMysqlConnection`.
//!
//! The connection is opened with mysql_async on the I/O runtime (so that its socket belongs to
//! that runtime, and so that "unknown database" is told apart by its error code), then wrapped
//! by diesel-async. mysql_async cannot hold the budget permit, so it travels next to the
//! connection and is dropped with it.

use diesel::connection::CacheSize;
use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};

use super::{on_io, quoted, Backend, ConnectContext, ConnectFailure};
use crate::{BackendKind, ConnectionPermit, DatabaseUrl, SchemaName};

/// MySQL's "Unknown database" error code.
const ER_BAD_DB_ERROR: u16 = 1049;

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

impl Backend for AsyncMysqlConnection {
    const KIND: BackendKind = BackendKind::Mysql;

    async fn connect(
        url: DatabaseUrl,
        ctx: ConnectContext,
    ) -> Result<(Self, Option<ConnectionPermit>), ConnectFailure> {
        let ConnectContext {
            io,
            permit,
            timeout,
            ..
        } = ctx;
        on_io(&io, timeout, async move {
            let opts = mysql_async::Opts::from_url(url.expose_secret())
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            let raw = mysql_async::Conn::new(opts).await.map_err(|e| match &e {
                mysql_async::Error::Server(s) if s.code == ER_BAD_DB_ERROR => {
                    ConnectFailure::DatabaseMissing
                }
                _ => ConnectFailure::Unavailable(url.redact(&e.to_string())),
            })?;
            let conn = AsyncMysqlConnection::try_from(raw)
                .await
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            // The permit travels with the connection, in this task, so that a cancelled
            // caller cannot release it while the connection still exists.
            Ok((conn, Some(permit)))
        })
        .await
    }

    async fn validate(&mut self) -> diesel::QueryResult<()> {
        self.batch_execute("SELECT 1").await
    }

    async fn switch_schema(&mut self, schema: &SchemaName) -> diesel::QueryResult<()> {
        self.batch_execute(&format!("USE {}", quoted(schema, '`')))
            .await
    }

    async fn ensure_schema(
        &mut self,
        schema: &SchemaName,
        create: bool,
    ) -> diesel::QueryResult<bool> {
        if create {
            self.batch_execute(&format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quoted(schema, '`')
            ))
            .await?;
        }
        let found: Present = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?) AS present",
        )
        .bind::<Text, _>(schema.as_str())
        .get_result(self)
        .await?;
        Ok(found.present)
    }

    fn prepare_for_sharing(&mut self) {
        self.set_prepared_statement_cache_size(CacheSize::Disabled);
    }
}
