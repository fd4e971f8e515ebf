//! Per-tenant migrations, run once per tenant start from the registry's start hook.
//!
//! The hook runs once per tenant however many first requests arrive together, as a task on
//! the registry's multi-thread runtime, with the tenant's first connection already on its
//! schema.
//!
//! - SQLite: diesel's synchronous harness runs on the hook's own connection, inside
//!   `spawn_blocking`.
//! - PostgreSQL and MySQL: diesel-async's `AsyncMigrationHarness` needs to own a `'static`
//!   connection, and the hook only borrows one. So the hook opens a short-lived migration
//!   connection of its own to the tenant's target (on its schema, in schema mode), runs the
//!   harness (which waits with `block_in_place`: allowed, the hook runs on a multi-thread
//!   runtime), and closes it. That connection is outside the connection budget for the few milliseconds it
//!   lives.

use std::sync::Arc;

use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncMysqlConnection, AsyncPgConnection,
    SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::future::BoxFuture;
use tenantpool::{BoxError, SqliteConnection, TenantDirectory, TenantId, TenantInit, TenantTarget};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Migrates a SQLite tenant on its first connection.
pub(crate) struct SqliteMigrations;

impl TenantInit<SqliteConnection> for SqliteMigrations {
    fn init<'a>(
        &'a self,
        tenant: &'a TenantId,
        conn: &'a mut SqliteConnection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let applied = conn
                .spawn_blocking(|c| {
                    c.run_pending_migrations(SQLITE)
                        .map(|done| done.len())
                        .map_err(diesel::result::Error::QueryBuilderError)
                })
                .await?;
            tracing::info!(%tenant, applied, "tenant migrated");
            Ok(())
        })
    }
}

/// Migrates a PostgreSQL or MySQL tenant through a migration connection of its own.
pub(crate) struct ServerMigrations {
    pub(crate) directory: Arc<dyn TenantDirectory>,
}

impl ServerMigrations {
    async fn target(&self, tenant: &TenantId) -> Result<TenantTarget, BoxError> {
        Ok(self
            .directory
            .lookup(tenant)
            .await?
            .ok_or("the tenant left the directory during its start")?)
    }
}

fn migrate<C>(conn: C, migrations: EmbeddedMigrations) -> Result<usize, BoxError>
where
    C: AsyncConnection + 'static,
    AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
{
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness.run_pending_migrations(migrations)?.len();
    Ok(applied)
}

impl TenantInit<AsyncPgConnection> for ServerMigrations {
    fn init<'a>(
        &'a self,
        tenant: &'a TenantId,
        _conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let target = self.target(tenant).await?;
            let mut conn = AsyncPgConnection::establish(target.url.expose_secret())
                .await
                .map_err(|e| target.url.redact(&e.to_string()))?;
            if let Some(schema) = target.isolation.schema() {
                conn.batch_execute(&format!("SET search_path TO \"{}\"", schema.as_str()))
                    .await?;
            }
            let applied = migrate(conn, POSTGRES)?;
            tracing::info!(%tenant, applied, "tenant migrated");
            Ok(())
        })
    }
}

impl TenantInit<AsyncMysqlConnection> for ServerMigrations {
    fn init<'a>(
        &'a self,
        tenant: &'a TenantId,
        _conn: &'a mut AsyncMysqlConnection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let target = self.target(tenant).await?;
            let mut conn = AsyncMysqlConnection::establish(target.url.expose_secret())
                .await
                .map_err(|e| target.url.redact(&e.to_string()))?;
            if let Some(schema) = target.isolation.schema() {
                conn.batch_execute(&format!("USE `{}`", schema.as_str()))
                    .await?;
            }
            let applied = migrate(conn, MYSQL)?;
            tracing::info!(%tenant, applied, "tenant migrated");
            Ok(())
        })
    }
}
