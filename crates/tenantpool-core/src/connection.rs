//! The scoped connection a checkout hands out.
//!
//! [`PooledConnection`] derefs to the backend's diesel-async connection, so
//! `diesel_async::RunQueryDsl` works through `&mut conn`. Its `Drop` is the single exit for
//! every path out of a handler (return, `?`, panic, a dropped future): it hands the connection
//! back to its pool, which decides whether to reuse, pass on or close it (see
//! `SharedPool::put_back`), without any code from the user.

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use crate::backend::Backend;
use crate::entry::TenantEntry;
use crate::metrics::Since;
use crate::pool::{PoolObject, SharedPool};
use crate::stats::Counters;
use crate::{Error, SchemaName, TenantId};

/// A connection checked out for one tenant. Goes back to its pool (or is closed, when dirty)
/// when dropped. One held longer than `pool.leak_warning_after` (30 s by default) is reported
/// once by a `WARN` event inside the span current at checkout (see
/// [`PoolSettings::leak_warning_after`](crate::config::PoolSettings::leak_warning_after)).
///
/// # Contract
///
/// The registry guarantees that a connection handed out is clean and, in schema mode, on the
/// tenant's schema. To keep that guarantee, code holding a `PooledConnection` must not:
///
/// - change the session's schema (`SET search_path`, `USE`) or other session state
///   (`SET` of settings, temporary tables, `LISTEN`, advisory locks) and then return the
///   connection. Call [`discard`](Self::discard) after doing any of these: the connection is
///   then closed instead of reused;
/// - open or close transactions with raw SQL (`BEGIN`, `COMMIT`): use diesel's transaction
///   API, whose state the guard checks on return.
///
/// ```no_run
/// use diesel_async::{AsyncConnection, RunQueryDsl};
///
/// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// let mut conn = registry.get(&"acme".parse()?).await?;
/// diesel::sql_query("UPDATE counters SET n = n + 1").execute(&mut conn).await?;
/// conn.transaction::<_, diesel::result::Error, _>(async |conn| {
///     diesel::sql_query("DELETE FROM sessions").execute(conn).await?;
///     Ok(())
/// })
/// .await?;
/// // Dropped here: back in the pool, clean.
/// # Ok(()) }
/// ```
pub struct PooledConnection<C: Backend> {
    // SAFETY invariant: taken exactly once, in `Drop`.
    obj: ManuallyDrop<PoolObject<C>>,
    // Dropped after `obj` is dealt with (in `Drop`), then these release the tenant's fair
    // share (unless schema affinity handed it on with the connection to a waiter of the same
    // tenant) and the tenant's entry, which holds the pool (one reference for both the tenant
    // and the pool: the checkout's own, moved in, so the hot path clones nothing).
    share: Option<OwnedSemaphorePermit>,
    entry: Arc<TenantEntry<C>>,
    /// When it was checked out, for the held-time histogram (nothing without `metrics`).
    since: Since,
}

impl<C: Backend> PooledConnection<C> {
    pub(crate) fn new(
        obj: PoolObject<C>,
        share: Option<OwnedSemaphorePermit>,
        entry: Arc<TenantEntry<C>>,
    ) -> Self {
        // Held-too-long warnings (see `held`): a clock read and a store per checkout (plus the
        // span and the tenant while those warnings are enabled), so that the maintenance tick
        // can tell how long the connection has been out, and for whom. The held-time
        // histogram starts from the same clock read.
        let since = match &obj.held {
            Some(slot) => {
                let now = Instant::now();
                slot.checked_out(entry.tenant(), now);
                Since::at(now)
            }
            None => Since::now(),
        };
        Self {
            obj: ManuallyDrop::new(obj),
            share,
            entry,
            since,
        }
    }

    fn pool(&self) -> &Arc<SharedPool<C>> {
        self.entry.pool()
    }

    /// The tenant's cached entry (its pool, schema and fair share).
    pub(crate) fn entry(&self) -> &TenantEntry<C> {
        &self.entry
    }

    /// The tenant this connection was checked out for.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), Box<dyn std::error::Error>> {
    /// let conn = registry.get(&"acme".parse()?).await?;
    /// assert_eq!(conn.tenant().as_str(), "acme");
    /// # Ok(()) }
    /// ```
    pub fn tenant(&self) -> &TenantId {
        self.entry.tenant()
    }

    /// The schema the connection is on (schema mode), as far as the registry knows.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), Box<dyn std::error::Error>> {
    /// let conn = registry.get(&"acme".parse()?).await?;
    /// println!("{:?}", conn.schema());
    /// # Ok(()) }
    /// ```
    pub fn schema(&self) -> Option<&SchemaName> {
        self.obj.schema.as_ref()
    }

    /// Marks the connection for closing instead of reuse. Call it after changing session
    /// state the registry does not track.
    ///
    /// ```no_run
    /// use diesel_async::SimpleAsyncConnection;
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut conn = registry.get(&"acme".parse()?).await?;
    /// conn.batch_execute("SET statement_timeout = '1s'").await?;
    /// conn.discard(); // closed on drop, never handed to anyone else
    /// # Ok(()) }
    /// ```
    pub fn discard(&mut self) {
        self.obj.discard = true;
    }

    /// Whether this connection's socket is known to be closed (the server restarted, the
    /// backend was terminated; PostgreSQL can tell, other backends say no). After a query
    /// error, true means "the database is unavailable" (answer 503 and retry) rather than
    /// "the query is wrong"; such a connection is closed, not reused, when the guard drops.
    /// [`is_connection_error`](crate::is_connection_error) classifies the error itself.
    ///
    /// ```no_run
    /// use diesel_async::RunQueryDsl;
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut conn = registry.get(&"acme".parse()?).await?;
    /// if let Err(e) = diesel::sql_query("SELECT 1").execute(&mut conn).await {
    ///     if conn.is_lost() || tenantpool_core::is_connection_error(&e) {
    ///         // 503, try again
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_lost(&mut self) -> bool {
        self.obj.is_lost()
    }

    /// Whether the tenant has a schema (schema mode) and the connection is not provably on it.
    pub(crate) fn needs_schema_switch(&self) -> bool {
        self.entry
            .schema()
            .is_some_and(|schema| !self.obj.schema.as_ref().is_some_and(|s| s.same(schema)))
    }

    /// The checkout's entry, for a retry after this connection turned out lost.
    pub(crate) fn entry_arc(&self) -> Arc<TenantEntry<C>> {
        self.entry.clone()
    }

    /// Puts the connection on the tenant's schema (schema mode), skipping the round trip when
    /// it provably is already there.
    pub(crate) async fn switch_to_tenant_schema(&mut self) -> Result<(), SetupFailure> {
        match self.entry.schema() {
            Some(schema) => switch(&mut self.obj, &self.entry, schema).await,
            None => Ok(()),
        }
    }

    /// Puts the connection on `schema`, skipping the round trip when it provably is already.
    pub(crate) async fn switch_to(&mut self, schema: &SchemaName) -> Result<(), SetupFailure> {
        switch(&mut self.obj, &self.entry, schema).await
    }

    /// A failure of the registry's own statement on this connection (a schema check or
    /// switch) before the guard is handed over. The connection is marked for discarding;
    /// `lost` says whether the connection to the server was lost (the statement itself was
    /// fine, and another connection may serve the checkout).
    pub(crate) fn setup_failed(
        &mut self,
        what: &str,
        error: &diesel::result::Error,
    ) -> SetupFailure {
        self.obj.discard = true;
        SetupFailure {
            lost: crate::is_connection_error(error) || self.obj.is_lost(),
            error: Error::Setup {
                tenant: self.entry.tenant().clone(),
                reason: self.entry.pool().url.redact(&format!("{what}: {error}")),
            },
        }
    }
}

/// A registry statement failed on a connection before its guard was handed over.
pub(crate) struct SetupFailure {
    /// The connection was lost (closed socket, terminated backend): retry on another one.
    pub(crate) lost: bool,
    /// The error to report when no retry is left.
    pub(crate) error: Error,
}

/// The tracked schema is cleared *before* the switch and set only after it succeeded, so a
/// switch cancelled or failed halfway can never be mistaken for a finished one.
async fn switch<C: Backend>(
    obj: &mut PoolObject<C>,
    entry: &TenantEntry<C>,
    schema: &SchemaName,
) -> Result<(), SetupFailure> {
    let pooled = &mut **obj;
    if pooled.schema.as_ref().is_some_and(|s| s.same(schema)) {
        return Ok(());
    }
    pooled.schema = None;
    match pooled.conn.switch_schema(schema).await {
        Ok(()) => {
            pooled.schema = Some(schema.clone());
            Counters::bump(&entry.pool().counters.schema_switches);
            Ok(())
        }
        Err(e) => {
            pooled.discard = true;
            Err(SetupFailure {
                lost: crate::is_connection_error(&e) || pooled.is_lost(),
                error: Error::Setup {
                    tenant: entry.tenant().clone(),
                    reason: entry
                        .pool()
                        .url
                        .redact(&format!("switching to schema {schema} failed: {e}")),
                },
            })
        }
    }
}

impl<C: Backend> Deref for PooledConnection<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.obj.conn
    }
}

impl<C: Backend> DerefMut for PooledConnection<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.obj.conn
    }
}

impl<C: Backend> Drop for PooledConnection<C> {
    fn drop(&mut self) {
        // SAFETY: `obj` is never used again after this line; `drop` runs once.
        let obj = unsafe { ManuallyDrop::take(&mut self.obj) };
        // Before `put_back`, which may hand the connection to another checkout at once.
        if let Some(slot) = &obj.held {
            slot.returned();
        }
        let share = self.share.take();
        let pool = self.entry.pool();
        pool.metrics.returned(&self.since);
        pool.put_back(obj, share, self.entry.tenant());
    }
}

impl<C: Backend> std::fmt::Debug for PooledConnection<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConnection")
            .field("tenant", self.entry.tenant())
            .field("target", &self.pool().url)
            .field("schema", &self.obj.schema)
            .finish()
    }
}
