//! Migrating every tenant: bounded concurrency inside the registry's budget, resumable, one
//! outcome per tenant.

use diesel::migration::MigrationSource;
use futures_util::StreamExt;
use serde::Serialize;

use super::{MigrationBackend, TenantMigrations};
use crate::{Registry, TenantId};

/// What happened to one tenant in [`migrate_all`].
///
/// ```
/// let o = tenantpool_core::migrations::MigrationOutcome::Current;
/// assert_eq!(serde_json::to_value(&o).unwrap()["outcome"], "current");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "versions", rename_all = "snake_case")]
pub enum MigrationOutcome {
    /// The catalog records the latest version: nothing was asked of its database.
    Current,
    /// These migrations were applied (none: it was current, found by one query).
    Applied(Vec<String>),
    /// A dry run: these migrations are pending.
    Pending(Vec<String>),
    /// The tenant could not be migrated: why (the others went on).
    Failed(String),
}

/// One tenant's line of the report of [`migrate_all`].
///
/// ```
/// # use tenantpool_core::migrations::{MigrationOutcome, TenantMigration};
/// let line = TenantMigration { tenant: "acme".parse()?, outcome: MigrationOutcome::Current };
/// # Ok::<(), tenantpool_core::InvalidTenantId>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantMigration {
    /// The tenant.
    pub tenant: TenantId,
    /// What happened.
    #[serde(flatten)]
    pub outcome: MigrationOutcome,
}

/// Migrates `tenants`, `concurrency` at a time (each through a checkout of `registry`, so
/// within its budget), and reports each tenant's outcome in the order they finish; calls
/// `progress` after each. With `dry_run`, only lists what is pending.
///
/// Build `registry` without the migrations as its start hook, or each start migrates first.
///
/// ```no_run
/// use tenantpool_core::migrations::{migrate_all, TenantMigrations};
/// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// let source = diesel_migrations::FileBasedMigrations::from_path("migrations/sqlite")?;
/// let migrations = TenantMigrations::new(source);
/// let tenants = registry.tenants().await?;
/// let report = migrate_all(&registry, &migrations, tenants, 8, false, |_| {}).await;
/// # Ok(()) }
/// ```
pub async fn migrate_all<C, S>(
    registry: &Registry<C>,
    migrations: &TenantMigrations<S>,
    tenants: Vec<TenantId>,
    concurrency: usize,
    dry_run: bool,
    mut progress: impl FnMut(&TenantMigration),
) -> Vec<TenantMigration>
where
    C: MigrationBackend,
    S: MigrationSource<<C as diesel_async::AsyncConnectionCore>::Backend> + Send + Sync + 'static,
{
    let latest = match migrations.latest() {
        Ok(latest) => latest,
        Err(e) => {
            return tenants
                .into_iter()
                .map(|tenant| TenantMigration {
                    tenant,
                    outcome: MigrationOutcome::Failed(format!("cannot read the migrations: {e}")),
                })
                .collect();
        }
    };
    // The catalog's records, read once: the tenants it records as current cost nothing more.
    let recorded = match migrations.recorded().await {
        Ok(recorded) => recorded,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the catalog's records; asking per tenant");
            None
        }
    };
    let recorded = &recorded;
    let mut runs = futures_util::stream::iter(tenants)
        .map(|tenant| {
            let latest = latest.clone();
            let current = recorded.as_ref().map(|r| {
                latest.is_some() && r.get(&tenant).and_then(Option::as_deref) == latest.as_deref()
            });
            let (registry, migrations) = (registry.clone(), migrations.clone());
            async move {
                if current == Some(true) {
                    return TenantMigration {
                        tenant,
                        outcome: MigrationOutcome::Current,
                    };
                }
                // A task of its own: the harness blocks its thread (`block_in_place`), which
                // must be a worker's, not the thread polling the other tenants' migrations.
                let key = tenant.clone();
                let run = tokio::spawn(async move {
                    one(
                        &registry,
                        &migrations,
                        &key,
                        latest.as_deref(),
                        dry_run,
                        current.is_none(),
                    )
                    .await
                });
                let outcome = run.await.unwrap_or_else(|e| {
                    MigrationOutcome::Failed(format!("migration task failed: {e}"))
                });
                TenantMigration { tenant, outcome }
            }
        })
        .buffer_unordered(concurrency.max(1));
    let mut report = Vec::new();
    while let Some(line) = runs.next().await {
        progress(&line);
        report.push(line);
    }
    report
}

async fn one<C, S>(
    registry: &Registry<C>,
    migrations: &TenantMigrations<S>,
    tenant: &TenantId,
    latest: Option<&str>,
    dry_run: bool,
    ask_catalog: bool,
) -> MigrationOutcome
where
    C: MigrationBackend,
    S: MigrationSource<<C as diesel_async::AsyncConnectionCore>::Backend> + Send + Sync + 'static,
{
    if ask_catalog {
        match migrations.is_current(tenant, latest).await {
            Ok(true) => return MigrationOutcome::Current,
            Ok(false) => {}
            Err(e) => return MigrationOutcome::Failed(e.to_string()),
        }
    }
    let conn = match registry.get(tenant).await {
        Ok(conn) => conn,
        Err(e) => return MigrationOutcome::Failed(e.to_string()),
    };
    match C::apply(conn, tenant, migrations.source(), dry_run).await {
        Ok(versions) if dry_run => MigrationOutcome::Pending(versions),
        Ok(versions) => match migrations.record(tenant, latest).await {
            Ok(()) => MigrationOutcome::Applied(versions),
            Err(e) => MigrationOutcome::Failed(format!("migrated, but not recorded: {e}")),
        },
        Err(e) => MigrationOutcome::Failed(e.to_string()),
    }
}
