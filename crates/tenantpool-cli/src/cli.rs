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
    /// Applies the pending migrations of one tenant or of every active one, within the
    /// configuration's budget, recording each tenant's version in the catalog.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The tenant to migrate (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub tenant: Option<String>,
    /// Every active tenant of the catalog. Tenants it records as current are skipped without
    /// a connection, so an interrupted run resumes where it stopped.
    #[arg(long)]
    pub all: bool,
    /// The migrations directory, in diesel's layout (one folder per migration with `up.sql`).
    #[arg(long)]
    pub migrations: PathBuf,
    /// How many tenants migrate at once (connections stay within the budget whatever this is).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Only list what is pending.
    #[arg(long)]
    pub dry_run: bool,
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
