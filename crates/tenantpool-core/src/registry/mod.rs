//! The registry: tenant → cached entry → shared pool → guard.
//!
//! ```text
//! get(tenant) ─▶ TenantCache: moka Cache<TenantId, Arc<TenantEntry>>   (time to idle, LRU)
//!                     │ miss: Starts (single flight, negative cache) → directory → Pools
//!                     │ hit
//!                     ▼
//!                TenantEntry { TenantHold(Arc<SharedPool>), schema, fair share }
//!                     │ checkout (fair share, pool, budget; one deadline)
//!                     ▼
//!                PooledConnection { obj, fair-share permit, Arc<TenantEntry> }
//!                     │ Drop
//!                     ▼
//!                SharedPool::put_back: discard │ hand off │ affinity offer │ return
//! ```
//!
//! One file per part: `builder` (settings and supplied parts), `init` (the tenant start
//! hook), `cache` (the tenant cache), `start` (cold starts), `checkout` (entry → guard),
//! `pools` (pools by target), `maintenance` (the timer that expires, reaps and warns about
//! connections held too long), `readiness` (whether the servers accept connections).

mod builder;
mod cache;
mod checkout;
mod init;
mod maintenance;
mod pools;
mod readiness;
mod start;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::cache::TenantCache;
use self::maintenance::Maintained;
use self::pools::Pools;
use self::readiness::Probes;
use self::start::Starts;
use crate::backend::Backend;
use crate::entry::TenantEntry;
use crate::lock::lock;
use crate::stats::{BudgetStats, Counters, PoolStats, Stats, TenantStats, TopTenants};
use crate::{Budgets, Error, PooledConnection, Settings, TenantId};

pub use self::builder::RegistryBuilder;
pub use self::init::{BoxError, TenantInit};

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

/// The state every clone of a registry shares.
struct Inner<C: Backend> {
    cache: TenantCache<C>,
    pools: Arc<Pools<C>>,
    starts: Arc<Starts<C>>,
    counters: Arc<Counters>,
    settings: Arc<Settings>,
    probes: Probes,
    /// The maintenance timer, aborted when the registry goes.
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The directory's watch, aborted at shutdown or when the registry goes.
    watch: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The closes of no named reason last published (see `metrics`).
    #[cfg(feature = "metrics")]
    closed_floor: crate::metrics::ClosedFloor,
}

impl<C: Backend> Maintained for Inner<C> {
    fn maintain(&self) {
        self.cache.run_pending_tasks();
        self.starts.run_pending_tasks();
        self.pools.maintain();
    }
}

impl<C: Backend> Drop for Inner<C> {
    fn drop(&mut self) {
        for task in [lock(&self.maintenance).take(), lock(&self.watch).take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

impl<C: Backend> Registry<C> {
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
        if inner.cache.is_closed() {
            return Err(Error::Closed);
        }
        let entry = match inner.cache.get(tenant) {
            Some(entry) => entry,
            // Boxed, so that the cold path's state is not part of every warm checkout's
            // future.
            None => Box::pin(inner.starts.entry_cold(tenant)).await?,
        };
        checkout::checkout(entry).await
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

    /// Checks out a connection for the current tenant (see [`with_tenant`](crate::with_tenant)):
    /// for code deep in a call stack, a job or a spawned task, without passing the tenant
    /// key through every signature.
    ///
    /// # Errors
    ///
    /// [`Error::NoTenantContext`] outside any tenant's context, else as [`get`](Self::get).
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// use tenantpool_core::{with_tenant, TenantId};
    /// with_tenant(TenantId::parse("acme")?, async {
    ///     let conn = registry.get_current().await?;
    ///     Ok::<_, tenantpool_core::Error>(())
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_current(&self) -> Result<PooledConnection<C>, Error> {
        self.get(&crate::context::current_tenant()?).await
    }

    /// Every tenant the directory lists, sorted.
    ///
    /// # Errors
    ///
    /// [`Error::CannotList`] when the directory cannot list its tenants (a template without an
    /// allow-list) or its list call fails.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// for tenant in registry.tenants().await? {
    ///     println!("{tenant}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn tenants(&self) -> Result<Vec<TenantId>, Error> {
        match self.inner.starts.directory().list().await {
            Ok(Some(mut tenants)) => {
                tenants.sort();
                tenants.dedup();
                Ok(tenants)
            }
            Ok(None) => Err(Error::CannotList {
                reason: "the directory has no list of its tenants (a template without an \
                         allow-list, or a directory whose `list` is not implemented)"
                    .into(),
            }),
            Err(e) => Err(Error::CannotList {
                reason: e.to_string(),
            }),
        }
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
    }

    /// Forgets what the registry knows about a tenant because its directory entry changed
    /// (created, suspended, resumed, moved, deleted): drops its cached entry like
    /// [`evict`](Self::evict), its remembered failure, and the directory's cached list. The
    /// next request starts it from the directory's new answer; a connection checked out before
    /// goes on working, and its pool closes when the last one is returned (unless other
    /// tenants share it).
    ///
    /// A directory that watches its source ([`TenantDirectory::watch`](crate::TenantDirectory::watch), the catalog) calls
    /// this itself; call it after changing a directory that does not.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// registry.forget(&"acme".parse()?);
    /// # Ok(()) }
    /// ```
    pub fn forget(&self, tenant: &TenantId) {
        self.inner.starts.forget(tenant);
    }

    /// Runs the maintenance pass now (the background task runs it every
    /// `cache.maintenance_interval`): expires idle tenants, reaps idle connections, warns about
    /// connections held longer than `pool.leak_warning_after`.
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
        self.inner.cache.contains(tenant)
    }

    /// A snapshot of pools, budgets, counters and the busiest tenants (the top
    /// `stats.top_tenants`, see [`top_tenants`](Self::top_tenants)).
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
            .pools
            .live()
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
            .pools
            .budgets()
            .all()
            .iter()
            .map(|b| BudgetStats {
                server: b.server().clone(),
                limit: b.limit(),
                open: b.open(),
                waiting: b.waiting(),
                service_total: b.capacity().service_total(),
                server_accepts: b.capacity().accepts(),
            })
            .collect();
        Stats {
            backend: C::KIND,
            cached_tenants: inner.cache.entry_count(),
            pools,
            budgets,
            counters: inner.counters.snapshot(),
            tenants: self.top_tenants(inner.settings.stats.top_tenants),
        }
    }

    /// The `k` cached tenants holding the most connections, and the `k` whose checkouts
    /// waited longest in all, with their figures (see [`TenantStats`]). One pass over the
    /// cached tenants, O(n log k), allocating nothing per tenant beyond the results; it
    /// neither resets a tenant's idle timer nor counts as a use.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// for t in registry.top_tenants(3).by_in_use {
    ///     println!("{}: {} in use, {} timeouts", t.tenant, t.in_use, t.timeouts);
    /// }
    /// # }
    /// ```
    pub fn top_tenants(&self, k: usize) -> TopTenants {
        if k == 0 {
            return TopTenants::default();
        }
        TopTenants::rank(
            k,
            self.inner
                .cache
                .entries()
                .map(|entry| TenantEntry::stats(&entry)),
        )
    }

    /// One cached tenant's figures: connections in use, waits, wait time, timeouts, when it
    /// started; `None` when the tenant is not cached (never started, or evicted). Reading them
    /// neither resets the tenant's idle timer nor counts as a use.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// match registry.tenant_stats(&"acme".parse()?) {
    ///     Some(acme) => println!("{} in use, {} waits", acme.in_use, acme.waits),
    ///     None => println!("acme is not started"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tenant_stats(&self, tenant: &TenantId) -> Option<TenantStats> {
        self.inner
            .cache
            .peek(tenant)
            .map(|entry| TenantEntry::stats(&entry))
    }

    /// Publishes the registry's counters and gauges to the installed `metrics` recorder,
    /// labelled `registry = name` (feature `metrics`). Call it just before each scrape: the
    /// adapters' admin `/metrics` endpoint does. Counters are copied from the registry's own
    /// counters, gauges from a snapshot; the histograms are recorded as events happen and need
    /// no call, but their handles are registered when a pool is built: install the recorder
    /// before building the registry. Per-tenant gauges go to the top `stats.top_tenants` tenants by connections in
    /// use and by wait, every other tenant summed under `tenant="_other"`. See
    /// `docs/observability.md` for the names.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// // With a recorder installed (e.g. metrics-exporter-prometheus):
    /// registry.publish_metrics("primary");
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self, name: &str) {
        self.inner.pools.flush_metrics();
        let stats = self.stats();
        crate::metrics::publish(
            name,
            &stats,
            self.inner
                .cache
                .entries()
                .map(|entry| TenantEntry::stats(&entry)),
            &self.inner.closed_floor,
        );
    }

    /// The budgets this registry draws from.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let shared = registry.budgets().clone();
    /// # }
    /// ```
    pub fn budgets(&self) -> &Budgets {
        self.inner.pools.budgets()
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
        inner.cache.close();
        let started = Instant::now();
        let mut in_use;
        loop {
            let pools = inner.pools.live();
            in_use = pools.iter().map(|p| p.in_use()).sum::<usize>();
            if in_use == 0 || started.elapsed() >= deadline {
                break;
            }
            drop(pools);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pools = inner.pools.live();
        for p in &pools {
            p.pool.close();
        }
        let pools_closed = pools.len();
        drop(pools);
        let watch = lock(&inner.watch).take();
        if let Some(watch) = watch {
            watch.abort();
        }
        inner.starts.directory().close().await;
        tracing::info!(pools_closed, in_use, "tenantpool registry shut down");
        ShutdownReport {
            pools_closed,
            in_use_at_deadline: in_use,
            clean: in_use == 0,
        }
    }
}
