//! Building a registry: settings, and the parts a caller may supply instead of the defaults
//! (a directory, shared budgets, a runtime, a tenant start hook).

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::cache::TenantCache;
use super::init::{BoxError, TenantInit};
use super::maintenance;
use super::pools::Pools;
use super::start::Starts;
use super::{Inner, Registry};
use crate::backend::Backend;
use crate::directory::DirectoryChanges;
use crate::lock::lock;
use crate::stats::Counters;
use crate::{
    Budgets, ConfigError, IoRuntime, PooledConnection, Settings, TenantDirectory, TenantId,
};

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
    /// let budgets = Budgets::new(config::BudgetSettings::default());
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
        let settings = Arc::new(self.settings);
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
        let cache = TenantCache::new(&settings.cache, counters.clone());
        let pools = Arc::new(Pools::new(
            budgets,
            io.clone(),
            counters.clone(),
            settings.clone(),
        ));
        let starts = Arc::new(Starts::new(
            directory,
            self.init,
            cache.clone(),
            pools.clone(),
            settings.clone(),
            counters.clone(),
        ));
        let inner = Arc::new(Inner {
            cache,
            pools,
            starts,
            counters,
            settings,
            probes: Default::default(),
            maintenance: Mutex::new(None),
            watch: Mutex::new(None),
            #[cfg(feature = "metrics")]
            closed_floor: Default::default(),
        });
        let task = maintenance::spawn(
            Arc::downgrade(&inner),
            inner.settings.cache.maintenance_interval,
            &io,
        );
        *lock(&inner.maintenance) = Some(task);
        *lock(&inner.watch) = Some(watch_directory(&inner.starts, &io));
        Ok(Registry { inner })
    }
}

/// Runs the directory's watch on the I/O runtime, reporting changes to the starts for as long
/// as they exist.
fn watch_directory<C: Backend>(starts: &Arc<Starts<C>>, io: &IoRuntime) -> JoinHandle<()> {
    let directory = starts.shared_directory();
    let starts = Arc::downgrade(starts);
    let changes = DirectoryChanges::new(move |tenant| {
        if let Some(starts) = starts.upgrade() {
            tracing::info!(%tenant, "tenant changed in the directory");
            starts.forget(tenant);
        }
    });
    io.handle()
        .spawn(async move { directory.watch(changes).await })
}
