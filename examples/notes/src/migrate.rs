//! Per-tenant migrations, run once per tenant start from the registry's start hook.
//!
//! The hook runs once per tenant however many first requests arrive together, as a task on
//! the registry's multi-thread runtime, with the tenant's first connection already on its
//! schema.
//!
//! - SQLite: diesel's synchronous harness runs on the hook's own connection, inside
//!   `spawn_blocking`.
//! - PostgreSQL and MySQL: diesel-async's `AsyncMigrationHarness` takes the hook's connection
//!   (the hook owns it) and waits with `block_in_place`, which is allowed because the hook runs
//!   on a multi-thread runtime. The connection goes back to the pool when the harness is done.

use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncMysqlConnection, AsyncPgConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::future::BoxFuture;
use tenantpool::{BoxError, PooledConnection, SqliteConnection, TenantId, TenantInit};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Migrates a SQLite tenant on its first connection: the registry's start hook for
/// SQLite, whichever web framework serves the notes.
///
/// ```
/// # fn f(settings: tenantpool::Settings) -> Result<(), tenantpool::ConfigError> {
/// let registry = tenantpool::Registry::<tenantpool::SqliteConnection>::builder(settings)
///     .tenant_init(tenantpool_notes::SqliteMigrations)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteMigrations;

impl TenantInit<SqliteConnection> for SqliteMigrations {
    fn init(
        &self,
        tenant: TenantId,
        mut conn: PooledConnection<SqliteConnection>,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
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

/// Migrates a PostgreSQL or MySQL tenant on its first connection: the registry's start hook
/// for both servers, whichever web framework serves the notes.
///
/// ```
/// # fn f(settings: tenantpool::Settings) -> Result<(), tenantpool::ConfigError> {
/// let registry = tenantpool::Registry::<diesel_async::AsyncPgConnection>::builder(settings)
///     .tenant_init(tenantpool_notes::ServerMigrations)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerMigrations;

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
    fn init(
        &self,
        tenant: TenantId,
        conn: PooledConnection<AsyncPgConnection>,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(async move {
            let applied = migrate(conn, POSTGRES)?;
            tracing::info!(%tenant, applied, "tenant migrated");
            Ok(())
        })
    }
}

impl TenantInit<AsyncMysqlConnection> for ServerMigrations {
    fn init(
        &self,
        tenant: TenantId,
        conn: PooledConnection<AsyncMysqlConnection>,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(async move {
            let applied = migrate(conn, MYSQL)?;
            tracing::info!(%tenant, applied, "tenant migrated");
            Ok(())
        })
    }
}
