//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Operate the tenant catalog of a tenantpool service.
///
/// Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 no such tenant, 4 the tenant
/// exists, 5 the tenant is locked by another operation, 6 a database is unreachable.
#[derive(Debug, Parser)]
#[command(name = "tenantpool", version)]
pub struct Cli {
    /// The service's configuration file (TOML), with a `[directory.catalog]` section.
    #[arg(long, short, global = true, env = "TENANTPOOL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The prefix of the environment variables that override the file, as the service uses
    /// them (`NOTES` for the notes example: `NOTES_DIRECTORY__CATALOG__URL=...`).
    #[arg(long, global = true, default_value = "TENANTPOOL")]
    pub env_prefix: String,
    /// Print JSON (one document on stdout; errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The catalog itself.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Tenants in the catalog.
    #[command(subcommand)]
    Tenants(TenantsCommand),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Creates the catalog's tables in the control database (a no-op when they exist).
    Install,
    /// The catalog's version and placements.
    Info,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Lists the tenants (deleted ones with --all).
    List {
        /// Include deleted tenants.
        #[arg(long)]
        all: bool,
    },
    /// Shows one tenant.
    Show(Key),
    /// Creates a tenant: its schema or database at the placement, then its row.
    Create {
        #[command(flatten)]
        key: Key,
        /// The placement (a name under `[directory.catalog.placements]`).
        #[arg(long)]
        placement: String,
        /// The tenant's pool size.
        #[arg(long)]
        max_size: Option<usize>,
    },
    /// Suspends a tenant (403, its database untouched).
    Suspend(Key),
    /// Serves a suspended tenant again.
    Resume(Key),
    /// Moves a tenant to another placement (the data is yours to copy).
    Move {
        #[command(flatten)]
        key: Key,
        /// The new placement.
        #[arg(long)]
        placement: String,
    },
    /// Deletes a tenant (404); --drop also drops its schema or database.
    Delete {
        #[command(flatten)]
        key: Key,
        /// Drop the schema or database once every replica has let the tenant go.
        #[arg(long)]
        drop: bool,
    },
}

#[derive(Debug, Args)]
pub struct Key {
    /// The tenant key.
    pub tenant: String,
}
