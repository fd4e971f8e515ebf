//! Runs one command against the catalog the configuration names.

use tenantpool_core::catalog::{Catalog, DeleteMode, NewTenant, TenantStatus};
use tenantpool_core::config::load_config;
use tenantpool_core::{BackendKind, Settings, TenantId};

use crate::cli::{CatalogCommand, Cli, Command, TenantsCommand};
use crate::exit::Failure;
use crate::output;

/// The settings and catalog of the configuration the command line names, and the backend
/// of its placements.
fn catalog(cli: &Cli) -> Result<(Settings, Catalog, BackendKind), Failure> {
    let config = load_config(cli.config.as_deref(), &cli.env_prefix)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let settings = Settings::from_config(&config).map_err(|e| Failure::usage(e.to_string()))?;
    let Some(section) = settings.directory.catalog.clone() else {
        return Err(Failure::usage(format!(
            "no [directory.catalog] section in {} (nor in {}_DIRECTORY__CATALOG__*)",
            cli.config.as_deref().map_or_else(
                || "the configuration".to_string(),
                |p| p.display().to_string()
            ),
            cli.env_prefix
        )));
    };
    let catalog = section.build().map_err(|e| Failure::usage(e.to_string()))?;
    let kind = section
        .placements
        .values()
        .next()
        .map(|p| p.url.expose_secret().replace("{tenant}", "a"))
        .and_then(|url| tenantpool_core::DatabaseUrl::parse(&url).ok())
        .map_or(catalog.url().kind(), |url| url.kind());
    Ok((settings, catalog, kind))
}

fn key(raw: &str) -> Result<TenantId, Failure> {
    TenantId::parse(raw).map_err(|e| Failure::usage(format!("{raw:?}: {e}")))
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let (settings, catalog, kind) = catalog(&cli)?;
    let json = cli.json;
    match &cli.command {
        Command::Migrate(args) => {
            crate::migrate::migrate(args, settings, catalog, kind, json).await
        }
        Command::Catalog(CatalogCommand::Install) => {
            catalog.install().await?;
            if json {
                output::json(&serde_json::json!({ "installed": true }))
            } else {
                println!("catalog installed in {}", catalog.url());
                Ok(())
            }
        }
        Command::Catalog(CatalogCommand::Info) => {
            let version = catalog.version().await?;
            let placements: Vec<&str> = catalog.placements().collect();
            if json {
                output::json(&serde_json::json!({
                    "url": catalog.url().to_string(),
                    "version": version,
                    "placements": placements,
                }))
            } else {
                println!("catalog {} at version {version}", catalog.url());
                println!("placements: {}", placements.join(", "));
                Ok(())
            }
        }
        Command::Tenants(TenantsCommand::List { all }) => {
            let records: Vec<_> = catalog
                .records()
                .await?
                .into_iter()
                .filter(|r| *all || r.status != TenantStatus::Deleted)
                .collect();
            if json {
                output::json(&records)
            } else {
                for r in &records {
                    println!("{}", output::line(r));
                }
                Ok(())
            }
        }
        Command::Tenants(TenantsCommand::Show(k)) => {
            let tenant = key(&k.tenant)?;
            let record = catalog
                .get(&tenant)
                .await?
                .ok_or(tenantpool_core::catalog::CatalogError::NotFound { tenant })?;
            output::record(json, &record)
        }
        Command::Tenants(TenantsCommand::Create {
            key: k,
            placement,
            max_size,
        }) => {
            let mut new = NewTenant::in_placement(placement);
            if let Some(n) = max_size {
                new = new.with_max_size(*n);
            }
            let record = catalog.create(&key(&k.tenant)?, new).await?;
            output::record(json, &record)
        }
        Command::Tenants(TenantsCommand::Suspend(k)) => {
            output::record(json, &catalog.suspend(&key(&k.tenant)?).await?)
        }
        Command::Tenants(TenantsCommand::Resume(k)) => {
            output::record(json, &catalog.resume(&key(&k.tenant)?).await?)
        }
        Command::Tenants(TenantsCommand::Move { key: k, placement }) => {
            output::record(json, &catalog.move_to(&key(&k.tenant)?, placement).await?)
        }
        Command::Tenants(TenantsCommand::Delete { key: k, drop }) => {
            let mode = if *drop {
                DeleteMode::Drop
            } else {
                DeleteMode::Keep
            };
            output::record(json, &catalog.delete(&key(&k.tenant)?, mode).await?)
        }
    }
}
