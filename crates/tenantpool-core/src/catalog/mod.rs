//! The catalog: tenants in a table of a control database (PostgreSQL, MySQL/MariaDB or
//! SQLite), read by the registry as its directory and changed by the provisioning API
//! ([`Catalog::create`], [`suspend`](Catalog::suspend), [`resume`](Catalog::resume),
//! [`delete`](Catalog::delete), [`move_to`](Catalog::move_to)) or the `tenantpool` CLI.
//!
//! - **The table.** `tenantpool_tenants`: key, placement (a name from configuration: where the
//!   data lives, with its credentials), status (`active`, `suspended`, `deleted`), pool
//!   overrides, the catalog version of its last change, timestamps. `tenantpool_catalog`
//!   holds the catalog's version, raised by every change. [`Catalog::install`] creates both
//!   (`src/catalog/sql/<backend>.sql`).
//! - **Changes reach every replica.** The registry runs [`TenantDirectory::watch`](crate::TenantDirectory::watch): each
//!   replica polls the version every `poll_interval` (one indexed query) and forgets the
//!   tenants whose rows changed since. On PostgreSQL a trigger also sends `NOTIFY
//!   tenantpool_catalog` at commit, and a listening connection makes the poll run at once.
//! - **Suspended** tenants answer 403 without their database being touched, **deleted** ones
//!   404, and a **moved** one drains: new checkouts start it at its new place, connections
//!   already out finish where they are, and the old pool closes when the last is returned.
//! - **Connections.** The catalog holds one connection to the control database per process
//!   (opened on first use, reopened after a failure), outside the tenants' budgets; on
//!   PostgreSQL a second one listens. Provisioning opens one more, briefly, to the tenant's
//!   server to create or drop its schema or database.
//!
//! ```no_run
//! use tenantpool_core::catalog::{Catalog, NewTenant, Placement};
//! use tenantpool_core::{DatabaseUrl, Registry, Settings, SqliteConnection};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = Catalog::new(DatabaseUrl::parse("sqlite://data/catalog.db")?)
//!     .placement("local", Placement::database("sqlite://data/{tenant}.db")?.creating_missing());
//! catalog.install().await?;
//! catalog.create(&"acme".parse()?, NewTenant::in_placement("local")).await?;
//! let registry = Registry::<SqliteConnection>::builder(Settings::default())
//!     .directory(catalog.clone())
//!     .build()?;
//! let conn = registry.get(&"acme".parse()?).await?;
//! # Ok(()) }
//! ```

mod connection;
mod directory;
mod error;
mod lock;
mod placement;
mod provision;
mod queries;
mod record;
mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use self::connection::CatalogConnection;
pub use self::error::CatalogError;
pub use self::placement::Placement;
pub use self::provision::{DeleteMode, NewTenant};
pub use self::record::{TenantRecord, TenantStatus};
use crate::{BackendKind, DatabaseUrl, IoRuntime, TenantId};

/// Tenants in a table of a control database: a [`TenantDirectory`](crate::TenantDirectory)
/// that every replica keeps up to date, and the provisioning API. Cheap to clone (clones
/// share the connection).
///
/// ```
/// use std::time::Duration;
/// use tenantpool_core::catalog::{Catalog, Placement};
/// use tenantpool_core::DatabaseUrl;
///
/// let catalog = Catalog::new(DatabaseUrl::parse("postgres://app@db/control")?)
///     .placement("shared", Placement::schema("postgres://app@db/shared", "t_{tenant}")?)
///     .poll_interval(Duration::from_millis(500));
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    url: DatabaseUrl,
    placements: BTreeMap<String, Placement>,
    poll_interval: Duration,
    listen: bool,
    lock_wait: Duration,
    connect_timeout: Duration,
    conn: Mutex<Option<CatalogConnection>>,
    io: std::sync::OnceLock<IoRuntime>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("url", &self.inner.url)
            .field(
                "placements",
                &self.inner.placements.keys().collect::<Vec<_>>(),
            )
            .field("poll_interval", &self.inner.poll_interval)
            .finish()
    }
}

impl Catalog {
    /// A catalog in the control database `url`, with no placement yet. Polls every second,
    /// listens on PostgreSQL, waits up to 30 s for a tenant's provisioning lock.
    ///
    /// ```
    /// let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://data/catalog.db")?);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            inner: Arc::new(Inner {
                url,
                placements: BTreeMap::new(),
                poll_interval: Duration::from_secs(1),
                listen: true,
                lock_wait: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(5),
                conn: Mutex::new(None),
                io: std::sync::OnceLock::new(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let old = &self.inner;
                let mut inner = Inner {
                    url: old.url.clone(),
                    placements: old.placements.clone(),
                    poll_interval: old.poll_interval,
                    listen: old.listen,
                    lock_wait: old.lock_wait,
                    connect_timeout: old.connect_timeout,
                    conn: Mutex::new(None),
                    io: std::sync::OnceLock::new(),
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// Adds (or replaces) a placement rows can name.
    ///
    /// ```
    /// use tenantpool_core::catalog::{Catalog, Placement};
    /// let c = Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://data/catalog.db")?)
    ///     .placement("local", Placement::database("sqlite://data/{tenant}.db")?);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn placement(self, name: &str, placement: Placement) -> Self {
        let name = name.to_string();
        self.edit(|i| {
            i.placements.insert(name, placement);
        })
    }

    /// How often each replica polls the catalog's version (default 1 s): the bound on how
    /// long a change takes to reach a replica that does not listen.
    ///
    /// ```
    /// # let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://c.db")?);
    /// let c = c.poll_interval(std::time::Duration::from_millis(200));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn poll_interval(self, every: Duration) -> Self {
        self.edit(|i| i.poll_interval = every.max(Duration::from_millis(10)))
    }

    /// Whether to listen for PostgreSQL notifications (default true; ignored elsewhere).
    ///
    /// ```
    /// # let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://c.db")?);
    /// let c = c.listen(false);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn listen(self, on: bool) -> Self {
        self.edit(|i| i.listen = on)
    }

    /// How long an operation waits for a tenant's provisioning lock (default 30 s) before
    /// [`CatalogError::Locked`].
    ///
    /// ```
    /// # let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://c.db")?);
    /// let c = c.lock_wait(std::time::Duration::from_secs(5));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn lock_wait(self, wait: Duration) -> Self {
        self.edit(|i| i.lock_wait = wait)
    }

    /// The control database (its password masked when printed).
    ///
    /// ```
    /// # let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://c.db")?);
    /// assert_eq!(c.url().kind(), tenantpool_core::BackendKind::Sqlite);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn url(&self) -> &DatabaseUrl {
        &self.inner.url
    }

    /// The configured placement names.
    ///
    /// ```
    /// # let c = tenantpool_core::catalog::Catalog::new(tenantpool_core::DatabaseUrl::parse("sqlite://c.db")?);
    /// assert_eq!(c.placements().count(), 0);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn placements(&self) -> impl Iterator<Item = &str> {
        self.inner.placements.keys().map(String::as_str)
    }

    pub(crate) fn placement_named(&self, name: &str) -> Result<&Placement, CatalogError> {
        self.inner
            .placements
            .get(name)
            .ok_or_else(|| CatalogError::UnknownPlacement {
                name: name.to_string(),
                known: self.placements().collect::<Vec<_>>().join(", "),
            })
    }

    /// The SQLite lock file beside the catalog's file.
    fn lock_file(&self) -> Option<PathBuf> {
        (self.inner.url.kind() == BackendKind::Sqlite)
            .then(|| {
                self.inner
                    .url
                    .database()
                    .map(|p| PathBuf::from(format!("{p}.provision.lock")))
            })
            .flatten()
    }

    /// The runtime that drives the catalog's connections: the multi-thread runtime of the first
    /// caller, or one thread of the catalog's own when that is a current-thread runtime (an
    /// actix-web worker), whose connections would stall whenever that thread is busy.
    pub(crate) fn io(&self) -> Result<IoRuntime, CatalogError> {
        if let Some(io) = self.inner.io.get() {
            return Ok(io.clone());
        }
        let io = match IoRuntime::current() {
            Ok(io) => io,
            Err(_) => {
                IoRuntime::dedicated(1).map_err(|e| CatalogError::Unavailable(e.to_string()))?
            }
        };
        Ok(self.inner.io.get_or_init(|| io).clone())
    }

    /// The catalog's connection, opened when there is none.
    async fn connection(&self) -> Result<MutexGuard<'_, Option<CatalogConnection>>, CatalogError> {
        let mut guard = self.inner.conn.lock().await;
        if guard.is_none() {
            let conn = CatalogConnection::open(
                &self.inner.url,
                &self.io()?,
                self.inner.connect_timeout,
                self.inner.url.kind() == BackendKind::Sqlite,
            )
            .await?;
            *guard = Some(conn);
        }
        Ok(guard)
    }

    /// Runs `op` on the catalog's connection; a connection an error leaves in doubt is
    /// dropped, and the next operation opens a new one.
    async fn with_connection<T>(
        &self,
        op: impl for<'c> FnOnce(
                &'c mut CatalogConnection,
            )
                -> futures_util::future::BoxFuture<'c, Result<T, CatalogError>>
            + Send,
    ) -> Result<T, CatalogError> {
        let mut guard = self.connection().await?;
        let Some(conn) = guard.as_mut() else {
            return Err(CatalogError::Unavailable("no connection".into()));
        };
        let result = op(conn).await;
        if matches!(result, Err(CatalogError::Unavailable(_))) || conn.is_dirty() {
            *guard = None;
        }
        result
    }

    /// Creates the catalog's tables in the control database, and the control database itself
    /// when it is missing (the SQLite file, or the database on its server); does nothing when
    /// they exist. Safe to run from several processes at once.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), tenantpool_core::catalog::CatalogError> {
    /// catalog.install().await?;
    /// # Ok(()) }
    /// ```
    pub async fn install(&self) -> Result<(), CatalogError> {
        if let Some(dir) = self
            .lock_file()
            .as_deref()
            .and_then(std::path::Path::parent)
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        if let Err(CatalogError::NotInstalled(_)) = self.connection().await.map(drop) {
            let target = crate::directory::TenantTarget::database(self.inner.url.clone());
            provision::create_objects(&target, &self.io()?, self.inner.connect_timeout).await?;
            tracing::info!(url = %self.inner.url, "catalog control database created");
        }
        self.with_connection(|conn| {
            Box::pin(async move {
                let kind = conn.kind();
                for statement in schema::statements(schema::install_sql(kind)) {
                    if let Err(e) = conn.execute(&statement).await {
                        // Two installs at once on PostgreSQL: the loser of a concurrent
                        // CREATE ... IF NOT EXISTS sees a duplicate; the winner made it.
                        let text = e.to_string();
                        if !(text.contains("duplicate key") || text.contains("already exists")) {
                            return Err(CatalogError::from_query(&e));
                        }
                    }
                }
                Ok(())
            })
        })
        .await
    }

    /// One tenant's row, deleted ones included; `None` when it has none.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// let record = catalog.get(&"acme".parse()?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<TenantRecord>, CatalogError> {
        let tenant = tenant.clone();
        self.with_connection(|conn| Box::pin(async move { queries::get(conn, &tenant).await }))
            .await?
            .map(TenantRecord::try_from)
            .transpose()
    }

    /// Every row, deleted ones included, by key.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// for record in catalog.records().await? {
    ///     println!("{} {}", record.tenant, record.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn records(&self) -> Result<Vec<TenantRecord>, CatalogError> {
        self.with_connection(|conn| Box::pin(queries::all(conn)))
            .await?
            .into_iter()
            .map(TenantRecord::try_from)
            .collect()
    }

    /// Records the version of the last migration applied to `tenant`'s data, so that a start
    /// of a current tenant costs no migration query (see
    /// [`TenantMigrations`](crate::migrations::TenantMigrations)). It changes nothing a replica
    /// serves; false when the tenant has no row.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// catalog.record_migration(&"acme".parse()?, "20261201000000").await?;
    /// # Ok(()) }
    /// ```
    pub async fn record_migration(
        &self,
        tenant: &TenantId,
        migration: &str,
    ) -> Result<bool, CatalogError> {
        let (tenant, migration) = (tenant.clone(), migration.to_string());
        self.with_connection(|conn| {
            Box::pin(async move { queries::record_migration(conn, &tenant, &migration).await })
        })
        .await
    }

    /// The catalog's version: raised by every change.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// let v = catalog.version().await?;
    /// # Ok(()) }
    /// ```
    pub async fn version(&self) -> Result<i64, CatalogError> {
        self.with_connection(|conn| {
            Box::pin(async move { queries::changed_since(conn, None).await })
        })
        .await
        .map(|(v, _)| v)
    }
}
