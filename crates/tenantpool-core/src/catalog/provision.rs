//! Provisioning: creating, suspending, resuming, moving and deleting tenants, each under the
//! tenant's lock across processes (see `lock`).

use std::time::Duration;

use super::connection::{on_connection, CatalogConnection};
use super::lock::TenantLock;
use super::queries::{self, Change};
use super::{Catalog, CatalogError, TenantRecord, TenantStatus};
use crate::backend::Backend;
use crate::directory::{PoolOverrides, TenantTarget};
use crate::{BackendKind, DatabaseUrl, IoRuntime, Isolation, TenantId};

/// What [`Catalog::create`] makes: the placement and pool overrides of a new tenant.
///
/// ```
/// use tenantpool_core::catalog::NewTenant;
/// let t = NewTenant::in_placement("shared").with_max_size(4);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewTenant {
    /// The placement name (configured in the catalog).
    pub placement: String,
    /// Pool overrides of this tenant.
    pub overrides: PoolOverrides,
}

impl NewTenant {
    /// A tenant in the placement `name`.
    ///
    /// ```
    /// let t = tenantpool_core::catalog::NewTenant::in_placement("shared");
    /// ```
    pub fn in_placement(name: &str) -> Self {
        Self {
            placement: name.to_string(),
            overrides: PoolOverrides::default(),
        }
    }

    /// Overrides the pool size.
    ///
    /// ```
    /// let t = tenantpool_core::catalog::NewTenant::in_placement("own").with_max_size(2);
    /// assert_eq!(t.overrides.max_size, Some(2));
    /// ```
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.overrides.max_size = Some(max_size);
        self
    }
}

/// What [`Catalog::delete`] does with the tenant's data.
///
/// ```
/// let mode = tenantpool_core::catalog::DeleteMode::Keep;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Marks the row deleted; the schema or database stays (to be archived by hand).
    Keep,
    /// Marks the row deleted, waits for every replica to have seen it (two poll intervals)
    /// and drops the schema or database (PostgreSQL terminates sessions still in it).
    Drop,
}

impl Catalog {
    /// Runs `op` under `tenant`'s provisioning lock, on the catalog's connection.
    async fn locked<T: Send + 'static>(
        &self,
        tenant: &TenantId,
        op: impl for<'c> FnOnce(
                &'c mut CatalogConnection,
            )
                -> futures_util::future::BoxFuture<'c, Result<T, CatalogError>>
            + Send
            + 'static,
    ) -> Result<T, CatalogError> {
        let lock_file = self.lock_file();
        let wait = self.inner.lock_wait;
        let tenant = tenant.clone();
        self.with_connection(move |conn| {
            Box::pin(async move {
                let lock = TenantLock::take(conn, lock_file.as_deref(), &tenant, wait).await?;
                let result = op(conn).await;
                let released = lock.release(conn).await;
                let value = result?;
                released?;
                Ok(value)
            })
        })
        .await
    }

    /// Creates a tenant: its schema or database (SQLite file) at its placement, then its row,
    /// active. Idempotent for the objects (existing ones are kept); a second create of a live
    /// tenant is [`CatalogError::Exists`], and of concurrent creates of one key, in any
    /// number of processes, one wins and the others get `Exists`. A deleted tenant's key can
    /// be taken again.
    ///
    /// Migrations run on the tenant's first start, from the registry's start hook.
    ///
    /// ```no_run
    /// use tenantpool_core::catalog::NewTenant;
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// let record = catalog.create(&"acme".parse()?, NewTenant::in_placement("shared")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(
        &self,
        tenant: &TenantId,
        new: NewTenant,
    ) -> Result<TenantRecord, CatalogError> {
        let target = self
            .placement_named(&new.placement)?
            .target(tenant, &new.overrides)?;
        let key = tenant.clone();
        let timeout = self.inner.connect_timeout;
        let io = self.io()?;
        let row = self
            .locked(tenant, move |conn| {
                Box::pin(async move {
                    if let Some(row) = queries::get(conn, &key).await? {
                        if row.status != TenantStatus::Deleted.as_str() {
                            return Err(CatalogError::Exists { tenant: key });
                        }
                    }
                    create_objects(&target, &io, timeout).await?;
                    queries::apply(
                        conn,
                        &key,
                        Change::Create {
                            placement: &new.placement,
                            overrides: &new.overrides,
                        },
                    )
                    .await
                })
            })
            .await?;
        tracing::info!(%tenant, placement = %row.placement, "tenant created in the catalog");
        TenantRecord::try_from(row)
    }

    /// Suspends a tenant: every replica answers it with 403 within a poll interval, without
    /// touching its database. Its connections checked out already finish.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// catalog.suspend(&"acme".parse()?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn suspend(&self, tenant: &TenantId) -> Result<TenantRecord, CatalogError> {
        self.set_status(tenant, TenantStatus::Suspended).await
    }

    /// Serves a suspended tenant again.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// catalog.resume(&"acme".parse()?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resume(&self, tenant: &TenantId) -> Result<TenantRecord, CatalogError> {
        self.set_status(tenant, TenantStatus::Active).await
    }

    async fn set_status(
        &self,
        tenant: &TenantId,
        status: TenantStatus,
    ) -> Result<TenantRecord, CatalogError> {
        let key = tenant.clone();
        let row = self
            .locked(tenant, move |conn| {
                Box::pin(async move { queries::apply(conn, &key, Change::Status(status)).await })
            })
            .await?;
        tracing::info!(%tenant, %status, "tenant status changed in the catalog");
        TenantRecord::try_from(row)
    }

    /// Moves a tenant to another placement: its objects are created there (the data is the
    /// operator's to copy), then its row points there. Every replica drains it within a poll
    /// interval: new checkouts go to the new place, connections out finish at the old one,
    /// and the old pool closes when the last is returned.
    ///
    /// ```no_run
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// catalog.move_to(&"acme".parse()?, "dedicated").await?;
    /// # Ok(()) }
    /// ```
    pub async fn move_to(
        &self,
        tenant: &TenantId,
        placement: &str,
    ) -> Result<TenantRecord, CatalogError> {
        let record = self
            .get(tenant)
            .await?
            .filter(|r| r.status != TenantStatus::Deleted)
            .ok_or_else(|| CatalogError::NotFound {
                tenant: tenant.clone(),
            })?;
        let target = self
            .placement_named(placement)?
            .target(tenant, &record.overrides)?;
        let key = tenant.clone();
        let name = placement.to_string();
        let timeout = self.inner.connect_timeout;
        let io = self.io()?;
        let row = self
            .locked(tenant, move |conn| {
                Box::pin(async move {
                    create_objects(&target, &io, timeout).await?;
                    queries::apply(conn, &key, Change::Move { placement: &name }).await
                })
            })
            .await?;
        tracing::info!(%tenant, placement = %row.placement, "tenant moved in the catalog");
        TenantRecord::try_from(row)
    }

    /// Deletes a tenant: every replica answers it with 404 within a poll interval; with
    /// [`DeleteMode::Drop`] its schema or database is dropped once they all have.
    ///
    /// ```no_run
    /// use tenantpool_core::catalog::DeleteMode;
    /// # async fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// catalog.delete(&"acme".parse()?, DeleteMode::Keep).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(
        &self,
        tenant: &TenantId,
        mode: DeleteMode,
    ) -> Result<TenantRecord, CatalogError> {
        let record = self.set_status(tenant, TenantStatus::Deleted).await?;
        if mode == DeleteMode::Drop {
            let target = self
                .placement_named(&record.placement)?
                .target(tenant, &record.overrides)?;
            // Every replica forgets the tenant within a poll interval (a listening one at
            // once); the second interval covers a poll that was running during the change.
            tokio::time::sleep(self.inner.poll_interval * 2).await;
            let key = tenant.clone();
            let timeout = self.inner.connect_timeout;
            let io = self.io()?;
            self.locked(tenant, move |_| {
                Box::pin(async move {
                    drop_objects(&target, &io, timeout).await?;
                    tracing::info!(tenant = %key, "tenant's data dropped");
                    Ok(())
                })
            })
            .await?;
        }
        Ok(record)
    }
}

/// Quotes a database name for DDL; names come from templates filled with validated keys,
/// and one with a quote or a NUL in it is refused.
fn quote(name: &str, kind: BackendKind) -> Result<String, CatalogError> {
    if name.is_empty() || name.contains(['"', '`', '\0', '\'']) {
        return Err(CatalogError::InvalidRow(format!(
            "{name:?} is not a usable database name"
        )));
    }
    Ok(match kind {
        BackendKind::Mysql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    })
}

/// The URL of the server's maintenance database: where `CREATE DATABASE` runs.
fn maintenance_url(url: &DatabaseUrl) -> Result<DatabaseUrl, CatalogError> {
    let mut raw = url::Url::parse(url.expose_secret())
        .map_err(|e| CatalogError::InvalidRow(url.redact(&e.to_string())))?;
    raw.set_path(match url.kind() {
        BackendKind::Postgres => "/postgres",
        _ => "/information_schema",
    });
    DatabaseUrl::parse(raw.as_str()).map_err(|e| CatalogError::InvalidRow(e.to_string()))
}

/// Runs DDL on a short-lived connection to `url`.
async fn run_ddl(
    url: &DatabaseUrl,
    io: &IoRuntime,
    sql: &str,
    timeout: Duration,
) -> Result<(), CatalogError> {
    let mut conn = CatalogConnection::open(url, io, timeout, false).await?;
    conn.execute(sql)
        .await
        .map_err(|e| CatalogError::Query(url.redact(&e.to_string())))
}

/// Creates the tenant's schema, database or SQLite file when missing.
pub(super) async fn create_objects(
    target: &TenantTarget,
    io: &IoRuntime,
    timeout: Duration,
) -> Result<(), CatalogError> {
    let url = &target.url;
    match (&target.isolation, url.kind()) {
        (Isolation::Schema(schema), _) => {
            let mut conn = CatalogConnection::open(url, io, timeout, false).await?;
            on_connection!(&mut conn, c => Backend::ensure_schema(c, schema, true).await)
                .map(drop)
                .map_err(|e| CatalogError::Query(url.redact(&e.to_string())))
        }
        (Isolation::Database, BackendKind::Sqlite) => {
            if let Some(dir) = url
                .database()
                .map(std::path::Path::new)
                .and_then(std::path::Path::parent)
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", dir.display())))?;
            }
            CatalogConnection::open(url, io, timeout, true)
                .await
                .map(drop)
        }
        (Isolation::Database, kind) => {
            let name = quote(url.database().unwrap_or_default(), kind)?;
            let sql = match kind {
                BackendKind::Mysql => format!("CREATE DATABASE IF NOT EXISTS {name}"),
                _ => format!("CREATE DATABASE {name}"),
            };
            match run_ddl(&maintenance_url(url)?, io, &sql, timeout).await {
                Err(CatalogError::Query(text)) if text.contains("already exists") => Ok(()),
                other => other,
            }
        }
    }
}

/// Drops the tenant's schema, database or SQLite file.
async fn drop_objects(
    target: &TenantTarget,
    io: &IoRuntime,
    timeout: Duration,
) -> Result<(), CatalogError> {
    let url = &target.url;
    match (&target.isolation, url.kind()) {
        (Isolation::Schema(schema), BackendKind::Mysql) => {
            let sql = format!(
                "DROP DATABASE IF EXISTS {}",
                quote(schema.as_str(), BackendKind::Mysql)?
            );
            run_ddl(url, io, &sql, timeout).await
        }
        (Isolation::Schema(schema), kind) => {
            let sql = format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote(schema.as_str(), kind)?
            );
            run_ddl(url, io, &sql, timeout).await
        }
        (Isolation::Database, BackendKind::Sqlite) => {
            let path = url.database().unwrap_or_default();
            for file in [
                path.to_string(),
                format!("{path}-wal"),
                format!("{path}-shm"),
            ] {
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(CatalogError::Unavailable(format!("{file}: {e}"))),
                }
            }
            Ok(())
        }
        (Isolation::Database, kind) => {
            let name = quote(url.database().unwrap_or_default(), kind)?;
            let sql = match kind {
                BackendKind::Mysql => format!("DROP DATABASE IF EXISTS {name}"),
                _ => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            };
            run_ddl(&maintenance_url(url)?, io, &sql, timeout).await
        }
    }
}
