//! Tenant migrations: run on a tenant's first start only when it is behind, once across
//! processes, and in bulk over every tenant within the budget.
//!
//! [`TenantMigrations`] wraps a diesel migration source (`embed_migrations!`, or
//! `FileBasedMigrations` for a directory read at run time):
//!
//! - **On first use** it is the registry's start hook (`RegistryBuilder::tenant_init`): with a
//!   [`Catalog`] that records the tenant's migration version as the
//!   latest, the start costs no migration query; otherwise it takes the tenant's migration
//!   lock (PostgreSQL advisory lock, MySQL `GET_LOCK`, SQLite's write lock), applies what is
//!   pending (one query when nothing is), records the version in the catalog and releases the
//!   lock. Concurrent first starts in several processes migrate once: the others wait on the
//!   lock and find nothing pending.
//! - **In bulk** ([`migrate_all`]): every tenant, `concurrency` at a time, each through a
//!   checkout of the registry (so inside its budget). Tenants the catalog records as current
//!   are skipped without a connection, so a run that was interrupted resumes where it
//!   stopped; a failing tenant does not stop the others; the report gives each tenant's
//!   outcome.

mod backend;
mod bulk;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use self::backend::MigrationBackend;
pub use self::bulk::{migrate_all, MigrationOutcome, TenantMigration};
use crate::catalog::Catalog;
use crate::{BoxError, PooledConnection, TenantId, TenantInit};
pub use diesel::migration::MigrationSource;

/// A tenant's migrations, as a start hook and for [`migrate_all`].
///
/// ```
/// use diesel_migrations::{embed_migrations, EmbeddedMigrations};
/// use tenantpool_core::migrations::TenantMigrations;
///
/// # fn f(catalog: tenantpool_core::catalog::Catalog) {
/// // const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// # let source = diesel_migrations::FileBasedMigrations::from_path("migrations").ok();
/// # if let Some(source) = source {
/// let migrations = TenantMigrations::new(source).recorded_in(catalog);
/// # }
/// # }
/// ```
pub struct TenantMigrations<S> {
    source: Arc<S>,
    catalog: Option<Catalog>,
}

impl<S> Clone for TenantMigrations<S> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            catalog: self.catalog.clone(),
        }
    }
}

/// The source, shared by the tenants migrating at once (`embed_migrations!` gives a source
/// that is not `Clone`).
pub(crate) struct Shared<S>(Arc<S>);

impl<DB: diesel::backend::Backend, S: MigrationSource<DB>> MigrationSource<DB> for Shared<S> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        self.0.migrations()
    }
}

impl<S> std::fmt::Debug for TenantMigrations<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMigrations")
            .field("recorded", &self.catalog.is_some())
            .finish()
    }
}

impl<S> TenantMigrations<S> {
    /// Migrations from `source`.
    ///
    /// ```no_run
    /// let source = diesel_migrations::FileBasedMigrations::from_path("migrations")?;
    /// let migrations = tenantpool_core::migrations::TenantMigrations::new(source);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(source: S) -> Self {
        Self {
            source: Arc::new(source),
            catalog: None,
        }
    }

    /// Records each tenant's migration version in `catalog`, and skips a tenant it records as
    /// current without a query on its database.
    ///
    /// ```no_run
    /// # fn f(catalog: tenantpool_core::catalog::Catalog) -> Result<(), Box<dyn std::error::Error>> {
    /// let source = diesel_migrations::FileBasedMigrations::from_path("migrations")?;
    /// let migrations = tenantpool_core::migrations::TenantMigrations::new(source).recorded_in(catalog);
    /// # Ok(()) }
    /// ```
    pub fn recorded_in(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The newest version `source` holds for the backend `DB`.
    pub(crate) fn latest<DB: diesel::backend::Backend>(&self) -> Result<Option<String>, BoxError>
    where
        S: MigrationSource<DB>,
    {
        Ok(self
            .source
            .migrations()?
            .iter()
            .map(|m| m.name().version().to_string())
            .max())
    }

    /// Whether the catalog records `tenant` at `latest`.
    pub(crate) async fn is_current(
        &self,
        tenant: &TenantId,
        latest: Option<&str>,
    ) -> Result<bool, BoxError> {
        let (Some(catalog), Some(latest)) = (&self.catalog, latest) else {
            return Ok(false);
        };
        let recorded = catalog.get(tenant).await?.and_then(|r| r.migration_version);
        Ok(recorded.as_deref() == Some(latest))
    }

    /// Every tenant's recorded migration version, in one catalog read; `None` without a
    /// catalog.
    pub(crate) async fn recorded(
        &self,
    ) -> Result<Option<std::collections::HashMap<TenantId, Option<String>>>, BoxError> {
        let Some(catalog) = &self.catalog else {
            return Ok(None);
        };
        Ok(Some(
            catalog
                .records()
                .await?
                .into_iter()
                .map(|r| (r.tenant, r.migration_version))
                .collect(),
        ))
    }

    /// Records `latest` for `tenant` in the catalog, if there is one.
    pub(crate) async fn record(
        &self,
        tenant: &TenantId,
        latest: Option<&str>,
    ) -> Result<(), BoxError> {
        if let (Some(catalog), Some(latest)) = (&self.catalog, latest) {
            catalog.record_migration(tenant, latest).await?;
        }
        Ok(())
    }

    pub(crate) fn source(&self) -> Shared<S> {
        Shared(self.source.clone())
    }
}

/// Migrates a tenant on its start: skipped when the catalog records it as current, else
/// applied under the tenant's migration lock and recorded.
impl<C, S> TenantInit<C> for TenantMigrations<S>
where
    C: MigrationBackend,
    S: MigrationSource<<C as diesel_async::AsyncConnectionCore>::Backend> + Send + Sync + 'static,
{
    fn init(
        &self,
        tenant: TenantId,
        conn: PooledConnection<C>,
    ) -> BoxFuture<'static, Result<(), BoxError>> {
        let migrations = self.clone();
        Box::pin(async move {
            let latest = migrations.latest()?;
            if migrations.is_current(&tenant, latest.as_deref()).await? {
                tracing::debug!(%tenant, "tenant's migrations are current (catalog)");
                return Ok(());
            }
            let applied = C::apply(conn, &tenant, migrations.source(), false).await?;
            migrations.record(&tenant, latest.as_deref()).await?;
            tracing::info!(%tenant, applied = applied.len(), "tenant migrated");
            Ok(())
        })
    }
}
