//! Applying one tenant's migrations on each backend, under a lock that works across processes.

use diesel::migration::MigrationSource;
use diesel_migrations::MigrationHarness;
use futures_util::future::BoxFuture;

use crate::{Backend, BoxError, PooledConnection, TenantId};

/// A backend whose tenants [`TenantMigrations`](super::TenantMigrations) can migrate.
///
/// Implemented for `AsyncPgConnection` (a session advisory lock per tenant),
/// `AsyncMysqlConnection` (`GET_LOCK` per tenant) and [`SqliteConnection`](crate::SqliteConnection)
/// (the migrations run inside one `BEGIN IMMEDIATE` transaction: SQLite's write lock).
///
/// ```
/// fn migratable<C: tenantpool_core::migrations::MigrationBackend>() {}
/// # #[cfg(feature = "sqlite")]
/// migratable::<tenantpool_core::SqliteConnection>();
/// ```
pub trait MigrationBackend: Backend {
    /// Applies the pending migrations of `source` on `conn` (with `dry_run`, only lists them),
    /// holding the tenant's migration lock; returns their versions.
    fn apply<S>(
        conn: PooledConnection<Self>,
        tenant: &TenantId,
        source: S,
        dry_run: bool,
    ) -> BoxFuture<'static, Result<Vec<String>, BoxError>>
    where
        S: MigrationSource<<Self as diesel_async::AsyncConnectionCore>::Backend> + Send + 'static;
}

/// Runs (or lists) the pending migrations through `harness`.
fn pending_or_run<DB, H, S>(
    harness: &mut H,
    source: S,
    dry_run: bool,
) -> Result<Vec<String>, BoxError>
where
    DB: diesel::backend::Backend,
    H: MigrationHarness<DB>,
    S: MigrationSource<DB>,
{
    if dry_run {
        Ok(harness
            .pending_migrations(source)?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect())
    } else {
        Ok(harness
            .run_pending_migrations(source)?
            .iter()
            .map(ToString::to_string)
            .collect())
    }
}

/// The lock name of a tenant's migrations.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn lock_name(tenant: &TenantId) -> String {
    format!("tenantpool-migrate:{tenant}")
}

#[cfg(feature = "postgres")]
impl MigrationBackend for diesel_async::AsyncPgConnection {
    fn apply<S>(
        mut conn: PooledConnection<Self>,
        tenant: &TenantId,
        source: S,
        dry_run: bool,
    ) -> BoxFuture<'static, Result<Vec<String>, BoxError>>
    where
        S: MigrationSource<diesel::pg::Pg> + Send + 'static,
    {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;
        let name = lock_name(tenant);
        Box::pin(async move {
            diesel::sql_query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
                .bind::<Text, _>(&name)
                .execute(&mut *conn)
                .await?;
            // The harness waits with `block_in_place`: the registry's start hook and the bulk
            // migration both run on multi-thread runtimes.
            let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
            let result = pending_or_run(&mut harness, source, dry_run);
            let mut conn = harness.into_inner();
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind::<Text, _>(&name)
                .execute(&mut *conn)
                .await;
            let versions = result?;
            unlocked?;
            Ok(versions)
        })
    }
}

#[cfg(feature = "mysql")]
impl MigrationBackend for diesel_async::AsyncMysqlConnection {
    fn apply<S>(
        mut conn: PooledConnection<Self>,
        tenant: &TenantId,
        source: S,
        dry_run: bool,
    ) -> BoxFuture<'static, Result<Vec<String>, BoxError>>
    where
        S: MigrationSource<diesel::mysql::Mysql> + Send + 'static,
    {
        use diesel::sql_types::{BigInt, Nullable, Text};
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Got {
            #[diesel(sql_type = Nullable<BigInt>)]
            got: Option<i64>,
        }

        let name = lock_name(tenant);
        Box::pin(async move {
            let got: Got = diesel::sql_query("SELECT GET_LOCK(?, 300) AS got")
                .bind::<Text, _>(&name)
                .get_result(&mut *conn)
                .await?;
            if got.got != Some(1) {
                return Err(format!("the migration lock {name} was not had within 300 s").into());
            }
            let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
            let result = pending_or_run(&mut harness, source, dry_run);
            let mut conn = harness.into_inner();
            let unlocked = diesel::sql_query("SELECT RELEASE_LOCK(?) AS got")
                .bind::<Text, _>(&name)
                .get_result::<Got>(&mut *conn)
                .await;
            let versions = result?;
            unlocked?;
            Ok(versions)
        })
    }
}

#[cfg(feature = "sqlite")]
impl MigrationBackend for crate::SqliteConnection {
    fn apply<S>(
        mut conn: PooledConnection<Self>,
        _tenant: &TenantId,
        source: S,
        dry_run: bool,
    ) -> BoxFuture<'static, Result<Vec<String>, BoxError>>
    where
        S: MigrationSource<diesel::sqlite::Sqlite> + Send + 'static,
    {
        /// A migration error carried through diesel's transaction.
        struct Failed(BoxError);
        impl From<diesel::result::Error> for Failed {
            fn from(e: diesel::result::Error) -> Self {
                Self(Box::new(e))
            }
        }

        Box::pin(async move {
            let outcome = conn
                .spawn_blocking(move |c| {
                    // BEGIN IMMEDIATE takes SQLite's write lock: a second process waits here,
                    // then finds nothing pending. Each migration's own transaction nests as a
                    // savepoint.
                    Ok(c.immediate_transaction(|c| {
                        pending_or_run(c, source, dry_run).map_err(Failed)
                    }))
                })
                .await?;
            outcome.map_err(|Failed(e)| e)
        })
    }
}
