//! The registry: tenant → cached entry → shared pool → guard.
//!
//! ```text
//! get(tenant) ─▶ moka Cache<TenantId, Arc<TenantEntry>>  (time-to-idle, LRU, single flight)
//!                     │ holds Arc
//!                     ▼
//!                SharedPool ◀── Weak ── pools: Mutex<HashMap<(DatabaseUrl, mode), Weak<SharedPool>>>
//!                     │ owns                    budget members: Vec<Weak<dyn IdleSource>>
//!                     ▼
//!                deadpool Pool<Manager<C>> ── create() takes a permit from ──▶ ServerBudget
//!                     │ get()
//!                     ▼
//!                PooledConnection { obj, fair-share permit, Arc<SharedPool> }
//! ```
//!
//! A cold tenant is started once, however many requests arrive for it at the same moment: the
//! directory is asked, the pool found or built, and the first connection opened (and, in
//! schema mode, the schema checked) before the entry is cached. A failed start is not cached
//! as an entry; it is remembered in a bounded negative cache for a backoff that doubles with
//! each further failure, and replayed to requests in the meantime.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::future::{FutureExt, Shared};
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tracing::Instrument as _;

use crate::admission::{Admission, Verdict};
use crate::affinity::Handoff;
use crate::backend::{Backend, ConnectFailure};
use crate::budget::{backoff_for, lock, BudgetError, IdleSource};
use crate::pool::{CreateError, Manager, SharedPool, TenantHold};
use crate::stats::{BudgetStats, Counters, PoolStats, Stats};
use crate::{
    BackendKind, Budgets, ConfigError, ConnectionPlacement, DatabaseUrl, Error, IoRuntime,
    Isolation, PooledConnection, SchemaName, Settings, TenantDirectory, TenantId, TenantTarget,
};

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

/// A boxed error from user code.
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

/// What [`Registry::shutdown`] did.
///
/// ```no_run
/// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) {
/// let report = registry.shutdown(std::time::Duration::from_secs(10)).await;
/// assert!(report.clean, "{} connections were still checked out", report.in_use_at_deadline);
/// # }
/// ```
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Pools closed by the shutdown.
    pub pools_closed: usize,
    /// Connections still checked out when the deadline passed (they close when returned).
    pub in_use_at_deadline: usize,
    /// True when every connection was back before the deadline.
    pub clean: bool,
}

/// Builds a [`Registry`].
///
/// ```
/// use tenantpool_core::{DatabaseUrl, Registry, Settings, StaticDirectory, TenantId, TenantTarget, SqliteConnection};
///
/// let directory = StaticDirectory::new().with(
///     TenantId::parse("acme")?,
///     TenantTarget::database(DatabaseUrl::parse("sqlite://target/doc-data/acme.db")?).creating_missing(),
/// );
/// let registry = Registry::<SqliteConnection>::builder(Settings::default())
///     .directory(directory)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RegistryBuilder<C: Backend> {
    settings: Settings,
    directory: Option<Arc<dyn TenantDirectory>>,
    budgets: Option<Budgets>,
    io: Option<IoRuntime>,
    init: Option<Arc<dyn TenantInit<C>>>,
}

impl<C: Backend> RegistryBuilder<C> {
    /// Uses this directory instead of the one described by `settings.directory`.
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let b = Registry::<SqliteConnection>::builder(Settings::default()).directory(StaticDirectory::new());
    /// ```
    pub fn directory(mut self, directory: impl TenantDirectory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// Shares connection budgets with other registries (for example a primary and a replica
    /// registry on the same server).
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let budgets = Budgets::new(BudgetSettings::default());
    /// let a = Registry::<SqliteConnection>::builder(Settings::default()).budgets(budgets.clone());
    /// ```
    pub fn budgets(mut self, budgets: Budgets) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// Runs connections on this runtime instead of a dedicated one.
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let io = IoRuntime::dedicated(1)?;
    /// let b = Registry::<SqliteConnection>::builder(Settings::default()).io_runtime(io);
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn io_runtime(mut self, io: IoRuntime) -> Self {
        self.io = Some(io);
        self
    }

    /// Runs `hook` once per tenant start (see [`TenantInit`]).
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let b = Registry::<SqliteConnection>::builder(Settings::default())
    ///     .on_tenant_start(|tenant, _conn| async move {
    ///         tracing::info!(%tenant, "starting");
    ///         Ok(())
    ///     });
    /// ```
    pub fn on_tenant_start<F, Fut>(self, hook: F) -> Self
    where
        F: Fn(TenantId, PooledConnection<C>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.tenant_init(hook)
    }

    /// Runs a [`TenantInit`] implementation once per tenant start; the same as
    /// [`on_tenant_start`](Self::on_tenant_start), for hooks written as types.
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// struct Audit;
    /// impl TenantInit<SqliteConnection> for Audit {
    ///     fn init(&self, tenant: TenantId, _conn: PooledConnection<SqliteConnection>)
    ///         -> futures_util::future::BoxFuture<'static, Result<(), BoxError>>
    ///     {
    ///         Box::pin(async move { tracing::info!(%tenant, "started"); Ok(()) })
    ///     }
    /// }
    /// let b = Registry::<SqliteConnection>::builder(Settings::default()).tenant_init(Audit);
    /// ```
    pub fn tenant_init(mut self, hook: impl TenantInit<C>) -> Self {
        self.init = Some(Arc::new(hook));
        self
    }

    /// Builds the registry and starts its maintenance task. Does not need to run inside a
    /// tokio runtime.
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let registry = Registry::<SqliteConnection>::builder(Settings::default()).build()?;
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn build(self) -> Result<Registry<C>, ConfigError> {
        let settings = self.settings;
        settings.validate()?;
        let directory: Arc<dyn TenantDirectory> = match self.directory {
            Some(d) => d,
            None => Arc::new(settings.directory.build()?),
        };
        let io = match self.io {
            Some(io) => io,
            None => IoRuntime::dedicated(settings.runtime.io_threads)?,
        };
        let budgets = self
            .budgets
            .unwrap_or_else(|| Budgets::new(settings.budget.clone()));
        let counters = Arc::new(Counters::default());

        let listener_counters = counters.clone();
        let front = Arc::new(crate::front::Front::new(settings.cache.time_to_idle));
        let listener_front = front.clone();
        let cache = Cache::builder()
            .name("tenantpool-tenants")
            .max_capacity(settings.cache.max_tenants)
            .time_to_idle(settings.cache.time_to_idle)
            // TinyLFU may refuse a brand-new entry (and report it as evicted) to protect
            // frequent ones; a refused tenant would have its fresh pool closed at once.
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(
                move |tenant: Arc<TenantId>, entry: Arc<TenantEntry<C>>, cause| {
                    listener_front.invalidate();
                    if cause != RemovalCause::Replaced {
                        Counters::bump(&listener_counters.tenants_evicted);
                    }
                    tracing::info!(
                        tenant = %tenant,
                        cause = ?cause,
                        target_db = %entry.pool().url,
                        "tenant evicted"
                    );
                    // Dropping the entry releases its hold on the pool; the pool closes if
                    // this was the last user.
                    drop(entry);
                },
            )
            // Only tenants the directory vouched for are cached here, so the keys are not an
            // attacker's to choose: a fast, randomly seeded hasher instead of SipHash. (The
            // failure cache below, whose keys anyone can send, keeps SipHash.)
            .build_with_hasher(TenantHasher::default());
        let failures = moka::sync::Cache::builder()
            .name("tenantpool-failures")
            .max_capacity(settings.backoff.max_failed_tenants)
            .time_to_live(
                (settings
                    .backoff
                    .max
                    .max(settings.backoff.unknown_tenant_ttl))
                    * 4,
            )
            .eviction_policy(EvictionPolicy::lru())
            .build();

        let inner = Arc::new(Inner {
            directory,
            cache,
            failures,
            pools: Mutex::new(HashMap::new()),
            budgets,
            io,
            counters,
            init: self.init,
            closed: AtomicBool::new(false),
            maintenance: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            admission: Admission::new(
                settings.backoff.directory_refresh,
                settings.backoff.unlisted_starts_per_second,
            ),
            front,
            settings,
        });
        let task = inner.io.handle().spawn(maintain(
            Arc::downgrade(&inner),
            inner.settings.cache.maintenance_interval,
        ));
        *lock(&inner.maintenance) = Some(task);
        Ok(Registry { inner })
    }
}

/// Tenant-keyed, cached, budgeted pools of diesel-async connections of type `C`.
///
/// Cloning is cheap and shares everything. Build it once, outside actix's
/// `HttpServer::new` closure, and clone it into each worker.
///
/// ```no_run
/// use diesel_async::{AsyncPgConnection, RunQueryDsl};
/// use tenantpool_core::{Registry, Settings, TemplateDirectory, TenantId};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = Registry::<AsyncPgConnection>::builder(Settings::default())
///     .directory(TemplateDirectory::database("postgres://app@127.0.0.1:5432/tenant_{tenant}")?)
///     .build()?;
///
/// let mut conn = registry.get(&TenantId::parse("acme")?).await?;
/// let n: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("1"))
///     .get_result(&mut conn)
///     .await?;
/// # Ok(()) }
/// ```
pub struct Registry<C: Backend> {
    inner: Arc<Inner<C>>,
}

impl<C: Backend> Clone for Registry<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Backend> std::fmt::Debug for Registry<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &C::KIND)
            .field("cached_tenants", &self.inner.cache.entry_count())
            .finish()
    }
}

type PoolKey = (DatabaseUrl, bool);

type TenantHasher = foldhash::fast::RandomState;

struct Inner<C: Backend> {
    directory: Arc<dyn TenantDirectory>,
    settings: Settings,
    cache: Cache<TenantId, Arc<TenantEntry<C>>, TenantHasher>,
    failures: moka::sync::Cache<TenantId, Arc<Failure>>,
    pools: Mutex<HashMap<PoolKey, Weak<SharedPool<C>>>>,
    budgets: Budgets,
    io: IoRuntime,
    counters: Arc<Counters>,
    init: Option<Arc<dyn TenantInit<C>>>,
    closed: AtomicBool,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    inflight: Mutex<HashMap<TenantId, StartFuture<C>>>,
    admission: Admission,
    /// Per-thread slots in front of `cache` for the warm path (see `front`).
    front: Arc<crate::front::Front>,
}

type StartFuture<C> = Shared<BoxFuture<'static, Result<Arc<TenantEntry<C>>, Error>>>;

impl<C: Backend> Drop for Inner<C> {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.maintenance).take() {
            task.abort();
        }
    }
}

/// A cached tenant: its pool, its schema and its fair share.
pub(crate) struct TenantEntry<C: Backend> {
    tenant: TenantId,
    hold: TenantHold<C>,
    schema: Option<SchemaName>,
    share: Option<Arc<Semaphore>>,
    checkout_timeout: Duration,
}

impl<C: Backend> TenantEntry<C> {
    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub(crate) fn pool(&self) -> &Arc<SharedPool<C>> {
        &self.hold.0
    }

    pub(crate) fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }
}

/// A remembered failed start.
struct Failure {
    error: Error,
    attempts: u32,
    until: Instant,
}

impl<C: Backend> Registry<C> {
    /// Starts building a registry from settings.
    ///
    /// ```
    /// # use tenantpool_core::*;
    /// let registry = Registry::<SqliteConnection>::builder(Settings::default()).build()?;
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn builder(settings: Settings) -> RegistryBuilder<C> {
        RegistryBuilder {
            settings,
            directory: None,
            budgets: None,
            io: None,
            init: None,
        }
    }

    /// Checks out a connection for `tenant`.
    ///
    /// On a warm tenant this is a cache hit and a pool checkout, with no round trip to the
    /// database (in schema mode, one `SET search_path` when the connection was last used by
    /// another tenant). On a cold tenant it starts the tenant first (see the module docs).
    ///
    /// # Errors
    ///
    /// See [`Error`]: unknown tenant, missing database or schema, exhausted pool or budget,
    /// unreachable server, shutdown.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// let tenant = tenantpool_core::TenantId::parse("acme")?;
    /// let conn = registry.get(&tenant).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, tenant: &TenantId) -> Result<PooledConnection<C>, Error> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let entry = match inner.front.get::<TenantEntry<C>>(tenant) {
            Some(entry) => entry,
            None => {
                let token = inner.front.token();
                match inner.cache.get(tenant) {
                    Some(entry) => {
                        inner.front.put(tenant, &entry, token);
                        entry
                    }
                    // Boxed, so that the cold path's state is not part of every warm
                    // checkout's future.
                    None => Box::pin(inner.entry_cold(tenant)).await?,
                }
            }
        };
        inner.checkout(entry).await
    }

    /// Parses `tenant` and checks out a connection for it.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// let conn = registry.get_str("acme").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_str(&self, tenant: &str) -> Result<PooledConnection<C>, Error> {
        self.get(&TenantId::parse(tenant)?).await
    }

    /// Drops a tenant from the cache now, releasing its hold on its pool.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// registry.evict(&"acme".parse()?);
    /// # Ok(()) }
    /// ```
    pub fn evict(&self, tenant: &TenantId) {
        self.inner.cache.invalidate(tenant);
        self.inner.front.invalidate();
    }

    /// Runs the maintenance pass now (the background task runs it every
    /// `cache.maintenance_interval`): expires idle tenants, reaps idle connections.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// registry.run_maintenance();
    /// # }
    /// ```
    pub fn run_maintenance(&self) {
        self.inner.maintain();
    }

    /// Whether the tenant is cached (started and not evicted).
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// let warm = registry.is_cached(&"acme".parse()?);
    /// # Ok(()) }
    /// ```
    pub fn is_cached(&self, tenant: &TenantId) -> bool {
        self.inner.cache.contains_key(tenant)
    }

    /// A snapshot of pools, budgets and counters.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let stats = registry.stats();
    /// println!("{} pools", stats.pools.len());
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        // moka's entry count is updated by its pending maintenance.
        inner.cache.run_pending_tasks();
        let pools = inner
            .live_pools()
            .iter()
            .map(|p| {
                let s = p.pool.status();
                PoolStats {
                    target: p.url.clone(),
                    server: p.budget.server().clone(),
                    shared: p.shared,
                    tenants: p.tenants.load(Ordering::Relaxed),
                    size: s.size,
                    idle: s.available,
                    in_use: s.size - s.available,
                    waiting: s.waiting,
                    max_size: s.max_size,
                }
            })
            .collect();
        let budgets = inner
            .budgets
            .all()
            .iter()
            .map(|b| BudgetStats {
                server: b.server().clone(),
                limit: b.limit(),
                open: b.open(),
                waiting: b.waiting(),
            })
            .collect();
        Stats {
            backend: C::KIND,
            cached_tenants: inner.cache.entry_count(),
            pools,
            budgets,
            counters: inner.counters.snapshot(),
        }
    }

    /// The budgets this registry draws from.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let shared = registry.budgets().clone();
    /// # }
    /// ```
    pub fn budgets(&self) -> &Budgets {
        &self.inner.budgets
    }

    /// The settings the registry runs with.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let tti = registry.settings().cache.time_to_idle;
    /// # }
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Closes every pool: new checkouts fail with [`Error::Closed`] at once, idle connections
    /// close at once, and checked-out connections are waited for up to `deadline`, then close
    /// as they are returned.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let report = registry.shutdown(std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        inner.cache.invalidate_all();
        inner.front.invalidate();
        inner.cache.run_pending_tasks();
        let started = Instant::now();
        let mut in_use;
        loop {
            let pools = inner.live_pools();
            in_use = pools.iter().map(|p| p.in_use()).sum::<usize>();
            if in_use == 0 || started.elapsed() >= deadline {
                break;
            }
            drop(pools);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pools = inner.live_pools();
        for p in &pools {
            p.pool.close();
        }
        let pools_closed = pools.len();
        drop(pools);
        tracing::info!(pools_closed, in_use, "tenantpool registry shut down");
        ShutdownReport {
            pools_closed,
            in_use_at_deadline: in_use,
            clean: in_use == 0,
        }
    }
}

impl<C: Backend> Inner<C> {
    fn live_pools(&self) -> Vec<Arc<SharedPool<C>>> {
        lock(&self.pools)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn maintain(&self) {
        self.cache.run_pending_tasks();
        self.failures.run_pending_tasks();
        let (idle, life) = (
            self.settings.pool.idle_timeout,
            self.settings.pool.max_lifetime,
        );
        for pool in self.live_pools() {
            pool.reap(idle, life);
            pool.cool();
        }
        lock(&self.pools).retain(|_, p| p.strong_count() > 0);
        for budget in self.budgets.all() {
            budget.prune();
        }
    }

    /// Starts a cold tenant, or joins the start already in flight for it.
    ///
    /// The start runs as a task of its own on the I/O runtime: a caller that gives up (a
    /// timeout, a dropped request) does not abort it halfway, later callers join it instead of
    /// starting a second one, and the tenant start hook runs on a multi-thread runtime.
    async fn entry_cold(self: &Arc<Self>, tenant: &TenantId) -> Result<Arc<TenantEntry<C>>, Error> {
        if let Some(failure) = self.failures.get(tenant) {
            let now = Instant::now();
            if failure.until > now {
                return Err(replay(&failure.error, failure.until - now));
            }
        }
        match self
            .admission
            .verdict(&*self.directory, tenant, &self.counters)
            .await
        {
            Verdict::Listed => {}
            Verdict::NotListed => {
                Counters::bump(&self.counters.unknown_rejected);
                return Err(Error::UnknownTenant {
                    tenant: tenant.clone(),
                });
            }
            Verdict::Unlisted => {
                if !lock(&self.inflight).contains_key(tenant) {
                    if let Err(retry_after) = self.admission.admit() {
                        Counters::bump(&self.counters.throttled);
                        return Err(Error::Throttled {
                            tenant: tenant.clone(),
                            retry_after,
                        });
                    }
                }
            }
        }
        let start = {
            let mut inflight = lock(&self.inflight);
            if let Some(running) = inflight.get(tenant) {
                running.clone()
            } else {
                // The start task caches its entry before it leaves this map, so a caller that
                // missed the cache and finds no start in flight re-checks the cache here,
                // under the same lock, instead of starting the tenant twice.
                if let Some(entry) = self.cache.get(tenant) {
                    return Ok(entry);
                }
                let inner = self.clone();
                let key = tenant.clone();
                let span = tracing::info_span!("tenantpool.start", tenant = %tenant);
                let task = self.io.handle().spawn(
                    async move {
                        let result = inner.start_and_cache(&key).await;
                        lock(&inner.inflight).remove(&key);
                        result
                    }
                    .instrument(span),
                );
                let failed = tenant.clone();
                let shared = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(Error::Setup {
                            tenant: failed,
                            reason: format!("tenant start task failed: {e}"),
                        })
                    })
                }
                .boxed()
                .shared();
                inflight.insert(tenant.clone(), shared.clone());
                shared
            }
        };
        let wait = self.settings.pool.start_timeout;
        tokio::time::timeout(wait, start).await.unwrap_or_else(|_| {
            Err(Error::Exhausted {
                tenant: tenant.clone(),
                waited: wait,
            })
        })
    }

    async fn start_and_cache(&self, tenant: &TenantId) -> Result<Arc<TenantEntry<C>>, Error> {
        let started = Instant::now();
        let result = self.start(tenant).await;
        match &result {
            Ok(entry) => {
                if self.closed.load(Ordering::Acquire) {
                    return Err(Error::Closed);
                }
                self.cache.insert(tenant.clone(), entry.clone());
                self.front.invalidate();
                self.failures.invalidate(tenant);
                Counters::bump(&self.counters.tenants_started);
                tracing::info!(
                    target_db = %entry.pool().url,
                    schema = entry.schema.as_ref().map(|s| s.as_str()),
                    elapsed = ?started.elapsed(),
                    "tenant started"
                );
            }
            Err(e) => {
                Counters::bump(&self.counters.tenants_failed);
                self.remember_failure(tenant, e);
                tracing::warn!(error = %e, "tenant failed to start");
            }
        }
        result
    }

    fn remember_failure(&self, tenant: &TenantId, error: &Error) {
        let backoff = &self.settings.backoff;
        let attempts = self.failures.get(tenant).map_or(0, |f| f.attempts + 1);
        let wait = match error {
            Error::UnknownTenant { .. } => backoff.unknown_tenant_ttl,
            // Not `Unavailable`: a down server is remembered per server (its budget fails fast
            // for a short backoff), so that every tenant on it recovers as soon as it is back.
            Error::DatabaseMissing { .. }
            | Error::SchemaMissing { .. }
            | Error::Directory { .. }
            | Error::Setup { .. } => backoff_for(attempts, backoff.initial, backoff.max),
            _ => return,
        };
        self.failures.insert(
            tenant.clone(),
            Arc::new(Failure {
                error: error.clone(),
                attempts,
                until: Instant::now() + wait,
            }),
        );
    }

    /// Starts a tenant: directory, pool, first connection, schema, init hook.
    async fn start(&self, tenant: &TenantId) -> Result<Arc<TenantEntry<C>>, Error> {
        Counters::bump(&self.counters.directory_lookups);
        let target = self
            .directory
            .lookup(tenant)
            .await
            .map_err(|e| Error::Directory {
                tenant: tenant.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| Error::UnknownTenant {
                tenant: tenant.clone(),
            })?;
        self.check_supported(&target)?;
        let pool = self.pool_for(&target).map_err(|e| Error::Setup {
            tenant: tenant.clone(),
            reason: e,
        })?;
        let entry = Arc::new(self.entry_for(tenant, &target, pool));

        let mut conn = self.checkout_raw(entry.clone()).await?;
        if let Isolation::Schema(schema) = &target.isolation {
            let exists = Backend::ensure_schema(&mut *conn, schema, target.create_missing)
                .await
                .map_err(|e| Error::Setup {
                    tenant: tenant.clone(),
                    reason: target.url.redact(&format!("checking schema {schema}: {e}")),
                })?;
            if !exists {
                return Err(Error::SchemaMissing {
                    tenant: tenant.clone(),
                    schema: schema.clone(),
                });
            }
            conn.switch_to(schema).await?;
        }
        if self.settings.runtime.connections == ConnectionPlacement::Caller
            && target.isolation == Isolation::Database
            && conn.is_fresh()
        {
            // The pool's first connection, opened on the I/O runtime where the start runs: not
            // one the callers should share, since every query on it would cross to an I/O
            // thread and back. The first checkout opens one on its own runtime. A shared
            // (schema-mode) pool keeps it: there every start of a tenant would otherwise cost
            // a connect whenever no idle connection is at hand.
            conn.retire();
        }
        match &self.init {
            Some(init) => init
                .init(tenant.clone(), conn)
                .await
                .map_err(|e| Error::Setup {
                    tenant: tenant.clone(),
                    reason: target.url.redact(&format!("tenant start hook failed: {e}")),
                })?,
            None => drop(conn),
        }
        Ok(entry)
    }

    fn check_supported(&self, target: &TenantTarget) -> Result<(), Error> {
        let unsupported = |reason: String| {
            Err(Error::Config(ConfigError::Unsupported {
                target: target.url.to_string(),
                reason,
            }))
        };
        if target.url.kind() != C::KIND {
            return unsupported(format!(
                "this registry serves {} connections, the target is {}",
                C::KIND,
                target.url.kind()
            ));
        }
        if C::KIND == BackendKind::Sqlite && target.isolation != Isolation::Database {
            return unsupported("SQLite has no schemas: give each tenant its own file".into());
        }
        Ok(())
    }

    /// The live pool for a target, or a new one.
    fn pool_for(&self, target: &TenantTarget) -> Result<Arc<SharedPool<C>>, String> {
        let shared = target.isolation != Isolation::Database;
        let key = (target.url.clone(), shared);
        let mut pools = lock(&self.pools);
        if let Some(live) = pools.get(&key).and_then(Weak::upgrade) {
            if !live.pool.is_closed() {
                return Ok(live);
            }
        }
        let budget = self.budgets.for_server(target.url.server());
        let p = &self.settings.pool;
        let max_size = target.overrides.max_size.unwrap_or(p.max_size).max(1);
        let manager = Manager {
            url: target.url.clone(),
            budget: budget.clone(),
            io: self.io.clone(),
            counters: self.counters.clone(),
            shared,
            create_missing: target.create_missing,
            connect_timeout: p.connect_timeout,
            placement: self.settings.runtime.connections,
            warm_steal_after: self.settings.budget.warm_steal_after,
            live: Default::default(),
            returned: Default::default(),
            max_lifetime: p.max_lifetime,
            validate_after_idle: p.validate_after_idle,
            _conn: std::marker::PhantomData,
        };
        // Timeouts are ours (one checkout deadline around fair share, pool and budget), so
        // deadpool needs no runtime of its own.
        let pool = deadpool::managed::Pool::builder(manager)
            .max_size(max_size)
            .queue_mode(deadpool::managed::QueueMode::Lifo)
            .build()
            .map_err(|e| format!("cannot build the pool: {e}"))?;
        let shared_pool = Arc::new(SharedPool {
            url: target.url.clone(),
            pool,
            budget: budget.clone(),
            counters: self.counters.clone(),
            shared,
            tenants: Default::default(),
            affinity: shared.then(|| crate::affinity::Affinity::new(p.affinity_max_delay)),
            heat: Default::default(),
        });
        let member: Weak<dyn IdleSource> = Arc::downgrade(&shared_pool) as Weak<dyn IdleSource>;
        budget.join(member);
        pools.insert(key, Arc::downgrade(&shared_pool));
        Counters::bump(&self.counters.pools_created);
        tracing::info!(
            target_db = %target.url,
            server = %budget.server(),
            max_size,
            shared,
            "pool created"
        );
        Ok(shared_pool)
    }

    fn entry_for(
        &self,
        tenant: &TenantId,
        target: &TenantTarget,
        pool: Arc<SharedPool<C>>,
    ) -> TenantEntry<C> {
        let max_size = pool.pool.status().max_size.max(1);
        let cap = target
            .overrides
            .tenant_max_in_use
            .or(self.settings.pool.tenant_max_in_use);
        let share = match (pool.shared, cap) {
            (_, Some(cap)) if cap < max_size => Some(cap),
            (true, None) if max_size > 1 => Some(max_size.div_ceil(2)),
            _ => None,
        };
        TenantEntry {
            tenant: tenant.clone(),
            hold: TenantHold::new(pool),
            schema: target.isolation.schema().cloned(),
            share: share.map(|n| Arc::new(Semaphore::new(n))),
            checkout_timeout: target
                .overrides
                .checkout_timeout
                .unwrap_or(self.settings.pool.checkout_timeout),
        }
    }

    /// Fair share, then a pool connection, within the checkout timeout.
    async fn checkout_raw(&self, entry: Arc<TenantEntry<C>>) -> Result<PooledConnection<C>, Error> {
        let timeout = entry.checkout_timeout;
        let wait = async {
            let entry = &*entry;
            let pool = &entry.pool();
            let share = match &entry.share {
                Some(s) => match s.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(TryAcquireError::Closed) => return Err(Error::Closed),
                    // Boxed: only a tenant at its cap waits here.
                    Err(TryAcquireError::NoPermits) => {
                        match Box::pin(self.wait_share(entry, s)).await? {
                            Ok(permit) => Some(permit),
                            Err((obj, Some(permit))) => return Ok((obj, Some(permit))),
                            // Not sent: a share waiter is handed its tenant's permit.
                            Err((obj, None)) => {
                                let permit =
                                    s.clone().acquire_owned().await.map_err(|_| Error::Closed)?;
                                return Ok((obj, Some(permit)));
                            }
                        }
                    }
                },
                None => None,
            };
            let obj = match (&pool.affinity, &entry.schema) {
                (Some(affinity), Some(schema)) => {
                    self.get_with_affinity(entry, affinity, schema).await?
                }
                _ => self.get_from_pool(entry).await?,
            };
            Ok::<_, Error>((obj, share))
        };
        match with_deadline(timeout, wait).await {
            // The checkout's reference to the entry moves into the guard.
            Ok(Ok((obj, share))) => Ok(PooledConnection::new(obj, share, entry)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let pool = &entry.pool();
                Counters::bump(&self.counters.checkout_timeouts);
                tracing::warn!(
                    tenant = %entry.tenant,
                    target_db = %pool.url,
                    waited = ?entry.checkout_timeout,
                    pool_waiting = pool.pool.status().waiting,
                    budget_open = pool.budget.open(),
                    "checkout timed out"
                );
                Err(Error::Exhausted {
                    tenant: entry.tenant.clone(),
                    waited: entry.checkout_timeout,
                })
            }
        }
    }

    /// The tenant holds its whole fair share: a permit when one is released or, in a shared
    /// pool, one of the tenant's own connections handed over by its return with its permit,
    /// still on the tenant's schema (see the `affinity` module).
    async fn wait_share(
        &self,
        entry: &TenantEntry<C>,
        share: &Arc<Semaphore>,
    ) -> Result<Result<OwnedSemaphorePermit, Handoff<C>>, Error> {
        let permit = async {
            share
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::Closed)
        };
        match (&entry.pool().affinity, &entry.schema) {
            (Some(affinity), Some(schema)) => {
                let handed = affinity.wait_for_share(schema, share);
                tokio::select! {
                    biased;
                    Ok(handoff) = handed => Ok(Err(handoff)),
                    permit = permit => permit.map(Ok),
                }
            }
            _ => permit.await.map(Ok),
        }
    }

    /// A connection from the entry's pool, waiting as long as it takes (the caller bounds it).
    async fn get_from_pool(
        &self,
        entry: &TenantEntry<C>,
    ) -> Result<deadpool::managed::Object<Manager<C>>, Error> {
        loop {
            match entry.pool().pool.get().await {
                // One of this pool's connections came back while the creator waited.
                Err(deadpool::managed::PoolError::Backend(CreateError::Retry)) => continue,
                other => return other.map_err(|e| self.pool_error(e, entry)),
            }
        }
    }

    /// In a shared pool: a free connection if there is one; otherwise wait both in the pool
    /// and in the affinity queue, where a returned connection on this schema comes first.
    async fn get_with_affinity(
        &self,
        entry: &TenantEntry<C>,
        affinity: &crate::affinity::Affinity<C>,
        schema: &SchemaName,
    ) -> Result<deadpool::managed::Object<Manager<C>>, Error> {
        use deadpool::managed::{PoolError, TimeoutType, Timeouts};
        let now = Timeouts {
            wait: Some(Duration::ZERO),
            create: None,
            recycle: None,
        };
        match entry.pool().pool.timeout_get(&now).await {
            Err(PoolError::Timeout(TimeoutType::Wait)) => {}
            Err(PoolError::Backend(CreateError::Retry)) => {}
            other => return other.map_err(|e| self.pool_error(e, entry)),
        }
        let handed = affinity.wait_for(schema);
        tokio::select! {
            biased;
            // No permit comes with it: this checkout holds its share already.
            Ok((obj, _)) = handed => Ok(obj),
            got = self.get_from_pool(entry) => got,
        }
    }

    /// The hot path: a checkout plus, in schema mode, the schema guarantee.
    async fn checkout(&self, entry: Arc<TenantEntry<C>>) -> Result<PooledConnection<C>, Error> {
        let mut conn = self.checkout_raw(entry).await?;
        if conn.entry().schema.is_some() {
            // Boxed: only a switch pays for it, and it already pays a round trip.
            Box::pin(conn.switch_to_tenant_schema()).await?;
        }
        Counters::bump(&self.counters.checkouts);
        // A heuristic for the budget's steal policy, so a plain load and store: an increment
        // lost to a concurrent checkout costs nothing, a locked read-modify-write would cost
        // every checkout.
        let heat = &conn.entry().pool().heat;
        heat.store(
            heat.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        Ok(conn)
    }

    fn pool_error(
        &self,
        e: deadpool::managed::PoolError<CreateError>,
        entry: &TenantEntry<C>,
    ) -> Error {
        use deadpool::managed::PoolError;
        let pool = &entry.pool();
        let tenant = entry.tenant.clone();
        let unavailable = |reason: String, retry_after: Duration| Error::Unavailable {
            tenant: tenant.clone(),
            server: pool.budget.server().clone(),
            reason: pool.url.redact(&reason),
            retry_after: retry_after.max(Duration::from_secs(1)),
        };
        match e {
            PoolError::Backend(CreateError::Connect(ConnectFailure::DatabaseMissing)) => {
                Error::DatabaseMissing {
                    tenant,
                    target: pool.url.to_string(),
                }
            }
            PoolError::Backend(CreateError::Connect(failure)) => unavailable(
                failure.to_string(),
                self.settings.budget.server_backoff_initial,
            ),
            PoolError::Backend(CreateError::Budget(BudgetError::ServerDown {
                reason,
                retry_after,
            })) => unavailable(reason, retry_after),
            PoolError::Backend(CreateError::Budget(BudgetError::Closed)) | PoolError::Closed => {
                Error::Closed
            }
            PoolError::Timeout(_) => Error::Exhausted {
                tenant,
                waited: entry.checkout_timeout,
            },
            PoolError::Backend(CreateError::Retry)
            | PoolError::NoRuntimeSpecified
            | PoolError::PostCreateHook(_) => Error::Setup {
                tenant,
                reason: "the pool is misconfigured".into(),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// `tokio::time::timeout`, except that the timer is created only once `fut` has been
    /// pending: a warm checkout is ready at its first poll and pays for no timer. A struct
    /// rather than an `async fn`, so that the future is stored once, not once per state.
    struct Deadline<F> {
        #[pin]
        fut: F,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        limit: Duration,
    }
}

/// The checkout deadline passed.
struct DeadlinePassed;

fn with_deadline<F: std::future::Future>(limit: Duration, fut: F) -> Deadline<F> {
    Deadline {
        fut,
        timer: None,
        limit,
    }
}

impl<F: std::future::Future> std::future::Future for Deadline<F> {
    type Output = Result<F::Output, DeadlinePassed>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let mut this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.limit)));
        }
        match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(DeadlinePassed)),
            _ => Poll::Pending,
        }
    }
}

/// A remembered failure as it is replayed, with an up-to-date `Retry-After`.
fn replay(error: &Error, remaining: Duration) -> Error {
    match error {
        Error::Unavailable {
            tenant,
            server,
            reason,
            ..
        } => Error::Unavailable {
            tenant: tenant.clone(),
            server: server.clone(),
            reason: reason.clone(),
            retry_after: remaining.max(Duration::from_secs(1)),
        },
        other => other.clone(),
    }
}

/// The maintenance loop. Holds only a `Weak`, so it ends when the registry is dropped.
async fn maintain<C: Backend>(registry: Weak<Inner<C>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = registry.upgrade() else {
            break;
        };
        inner.maintain();
    }
}
