//! The tenant start hook: user code run once per tenant start, with its first connection.

use futures_util::future::BoxFuture;

use crate::backend::Backend;
use crate::{PooledConnection, TenantId};

/// A hook run once per tenant start, with the tenant's first connection (already on its
/// schema): run migrations, check a version, warm a cache. An error fails the start (HTTP 500)
/// and is retried after the backoff.
///
/// The hook owns the connection (so that harnesses that need a `'static` connection, such as
/// diesel-async's `AsyncMigrationHarness`, can take it) and runs as a task on the registry's
/// multi-thread I/O runtime (so that harnesses that block with `block_in_place` work). The
/// connection goes back to the pool, or is discarded when dirty, when the hook drops it.
///
/// Any `Fn(TenantId, PooledConnection<C>) -> impl Future<Output = Result<(), BoxError>>`
/// closure is a `TenantInit`.
///
/// ```no_run
/// use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
/// use tenantpool_core::{Registry, Settings};
///
/// let registry = Registry::<AsyncPgConnection>::builder(Settings::default())
///     .on_tenant_start(|_tenant, mut conn| async move {
///         conn.batch_execute("CREATE TABLE IF NOT EXISTS notes (id SERIAL PRIMARY KEY, text TEXT NOT NULL)")
///             .await?;
///         Ok(())
///     })
///     .build()?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
pub trait TenantInit<C: Backend>: Send + Sync + 'static {
    /// Prepares a freshly started tenant.
    fn init(
        &self,
        tenant: TenantId,
        conn: PooledConnection<C>,
    ) -> BoxFuture<'static, Result<(), BoxError>>;
}

/// A boxed error from user code (a [`TenantInit`] hook's).
///
/// ```
/// let e: tenantpool_core::BoxError = "migration 3 failed".into();
/// assert_eq!(e.to_string(), "migration 3 failed");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<C, F, Fut> TenantInit<C> for F
where
    C: Backend,
    F: Fn(TenantId, PooledConnection<C>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn init(
        &self,
        tenant: TenantId,
        conn: PooledConnection<C>,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(self(tenant, conn))
    }
}
