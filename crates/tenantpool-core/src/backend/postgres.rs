//! PostgreSQL through `AsyncPgConnection`.
//!
//! The connection is opened with tokio-postgres directly (so that a missing database is told
//! apart from an unreachable server by its SQLSTATE), and its driver task is spawned on the
//! I/O runtime holding the budget permit: the permit comes back only when the driver has sent
//! `Terminate` and closed the socket.

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio_postgres::error::SqlState;

use super::{on_io, quoted, Backend, ConnectContext, ConnectFailure};
use crate::{BackendKind, ConnectionPermit, DatabaseUrl, SchemaName};

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

impl Backend for AsyncPgConnection {
    const KIND: BackendKind = BackendKind::Postgres;

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
            let (client, connection) =
                tokio_postgres::connect(url.expose_secret(), tokio_postgres::NoTls)
                    .await
                    .map_err(|e| classify(&url, &e))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "postgres connection ended with an error");
                }
                drop(permit);
            });
            let conn = AsyncPgConnection::try_from(client)
                .await
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            Ok((conn, None))
        })
        .await
    }

    async fn validate(&mut self) -> diesel::QueryResult<()> {
        self.batch_execute("SELECT 1").await
    }

    async fn switch_schema(&mut self, schema: &SchemaName) -> diesel::QueryResult<()> {
        self.batch_execute(&format!("SET search_path TO {}", quoted(schema, '"')))
            .await
    }

    async fn ensure_schema(
        &mut self,
        schema: &SchemaName,
        create: bool,
    ) -> diesel::QueryResult<bool> {
        if create {
            self.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quoted(schema, '"')
            ))
            .await?;
        }
        let found: Present = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present",
        )
        .bind::<Text, _>(schema.as_str())
        .get_result(self)
        .await?;
        Ok(found.present)
    }

    fn is_closed(&mut self) -> bool {
        // `is_broken` is "transaction manager broken, or socket closed".
        diesel_async::pooled_connection::PoolableConnection::is_broken(self)
            && !<diesel_async::AnsiTransactionManager as diesel_async::TransactionManager<Self>>::is_broken_transaction_manager(self)
    }

    const ABANDON_OPENS_SESSION: bool = false;

    fn abandon(&mut self) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        let token = self.cancel_token();
        Some(Box::pin(async move {
            if let Err(e) = token.cancel_query(tokio_postgres::NoTls).await {
                tracing::debug!(error = %e, "cancel request for an abandoned connection failed");
            }
        }))
    }
}

fn classify(url: &DatabaseUrl, e: &tokio_postgres::Error) -> ConnectFailure {
    if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
        ConnectFailure::DatabaseMissing
    } else {
        let mut message = e.to_string();
        if let Some(db) = e.as_db_error() {
            message = format!("{}: {}", db.severity(), db.message());
        } else if let Some(source) = std::error::Error::source(e) {
            message = format!("{message}: {source}");
        }
        ConnectFailure::Unavailable(url.redact(&message))
    }
}
