//! `tenantpool migrate`: the tenants' migrations in bulk, through a registry of the
//! configuration's backend (so within its budget), with a progress line per tenant.

use std::time::Instant;

use diesel_migrations::FileBasedMigrations;
use tenantpool_core::catalog::{Catalog, TenantStatus};
use tenantpool_core::migrations::{
    migrate_all, MigrationBackend, MigrationOutcome, TenantMigrations,
};
use tenantpool_core::{BackendKind, Registry, Settings, TenantId};

use crate::cli::MigrateArgs;
use crate::exit::Failure;
use crate::output;

/// Runs the migration and prints the report; fails (exit 1) when a tenant failed.
pub async fn migrate(
    args: &MigrateArgs,
    settings: Settings,
    catalog: Catalog,
    kind: BackendKind,
    json: bool,
) -> Result<(), Failure> {
    let source = FileBasedMigrations::from_path(&args.migrations)
        .map_err(|e| Failure::usage(format!("{}: {e}", args.migrations.display())))?;
    let tenants: Vec<TenantId> = match &args.tenant {
        Some(key) => {
            vec![TenantId::parse(key).map_err(|e| Failure::usage(format!("{key:?}: {e}")))?]
        }
        None => catalog
            .records()
            .await?
            .into_iter()
            .filter(|r| r.status == TenantStatus::Active)
            .map(|r| r.tenant)
            .collect(),
    };
    let migrations = TenantMigrations::new(source).recorded_in(catalog.clone());
    match kind {
        BackendKind::Postgres => {
            run::<diesel_async::AsyncPgConnection>(
                args, settings, catalog, migrations, tenants, json,
            )
            .await
        }
        BackendKind::Mysql => {
            run::<diesel_async::AsyncMysqlConnection>(
                args, settings, catalog, migrations, tenants, json,
            )
            .await
        }
        BackendKind::Sqlite => {
            run::<tenantpool_core::SqliteConnection>(
                args, settings, catalog, migrations, tenants, json,
            )
            .await
        }
    }
}

async fn run<C: MigrationBackend>(
    args: &MigrateArgs,
    settings: Settings,
    catalog: Catalog,
    migrations: TenantMigrations<FileBasedMigrations>,
    tenants: Vec<TenantId>,
    json: bool,
) -> Result<(), Failure>
where
    FileBasedMigrations: tenantpool_core::migrations::MigrationSource<
        <C as diesel_async::AsyncConnectionCore>::Backend,
    >,
{
    let registry = Registry::<C>::builder(settings)
        .directory(catalog)
        .build()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let started = Instant::now();
    let total = tenants.len();
    let mut done = 0usize;
    let report = migrate_all(
        &registry,
        &migrations,
        tenants,
        args.concurrency,
        args.dry_run,
        |line| {
            done += 1;
            if !json {
                let what = match &line.outcome {
                    MigrationOutcome::Current => "current".to_string(),
                    MigrationOutcome::Applied(v) => format!("applied {}", v.len()),
                    MigrationOutcome::Pending(v) => {
                        format!("pending {}: {}", v.len(), v.join(", "))
                    }
                    MigrationOutcome::Failed(e) => format!("FAILED: {e}"),
                };
                eprintln!("[{done}/{total}] {}: {what}", line.tenant);
            }
        },
    )
    .await;
    registry.shutdown(std::time::Duration::from_secs(10)).await;
    let failed = report
        .iter()
        .filter(|l| matches!(l.outcome, MigrationOutcome::Failed(_)))
        .count();
    let count = |f: fn(&MigrationOutcome) -> bool| report.iter().filter(|l| f(&l.outcome)).count();
    let summary = serde_json::json!({
        "tenants": total,
        "current": count(|o| matches!(o, MigrationOutcome::Current)),
        "applied": count(|o| matches!(o, MigrationOutcome::Applied(_))),
        "pending": count(|o| matches!(o, MigrationOutcome::Pending(_))),
        "failed": failed,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if json {
        output::json(&serde_json::json!({ "summary": summary, "tenants": report }))?;
    } else {
        println!("{summary}");
    }
    if failed > 0 {
        return Err(Failure::other(format!(
            "{failed} of {total} tenants failed to migrate"
        )));
    }
    Ok(())
}
