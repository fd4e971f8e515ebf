//! # tenantpool-jobs
//!
//! A background worker next to the notes example, on the same configuration files: each
//! tenant's database (or schema) gets a `job` table; the worker claims one job per tenant per
//! round with `FOR UPDATE SKIP LOCKED` (PostgreSQL, MariaDB), runs it inside the tenant's
//! context (`tenantpool::with_tenant`, through `Registry::fan_out`), and gives its connection
//! back when the job ends. A failing or panicking job is rolled back and recorded `failed`;
//! the others go on.
//!
//! | command | what |
//! | --- | --- |
//! | `tenantpool-jobs enqueue TENANT KIND [COUNT]` | adds jobs: `count_notes` (the result is the tenant's number of notes), `fail`, `panic` |
//! | `tenantpool-jobs work [--once]` | works every tenant the directory lists, until SIGINT/SIGTERM (or, with `--once`, until none has a pending job) |
//! | `tenantpool-jobs status TENANT` | the tenant's jobs by status |
//!
//! ```no_run
//! # async fn run() -> Result<(), tenantpool_jobs::JobsError> {
//! let config = tenantpool_notes::load_config(Some("config/default.toml".as_ref()))?;
//! let registry = tenantpool_jobs::registry(&config, tenantpool_notes::SqliteMigrations)?;
//! let worker = tenantpool_jobs::Worker::new(registry.clone(), 4);
//! let totals = worker.run_until_idle(registry.tenants().await?).await;
//! registry.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod store;
mod worker;

use tenantpool::{Registry, Settings};

pub use crate::store::{Job, JobRow, JobStore};
pub use crate::worker::{CreateJobTable, Round, Worker};

/// Why the worker could not start or run.
///
/// ```
/// let e = tenantpool_jobs::JobsError::Usage("work [--once]".into());
/// assert!(e.to_string().contains("usage"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobsError {
    /// The command line is wrong.
    #[error("usage: {0}")]
    Usage(String),
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A registry call failed (unknown tenant, database down, a directory that cannot list).
    #[error(transparent)]
    Tenant(#[from] tenantpool::Error),
    /// A statement failed.
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

impl From<tenantpool::ConfigError> for JobsError {
    fn from(e: tenantpool::ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<tenantpool_notes::NotesError> for JobsError {
    fn from(e: tenantpool_notes::NotesError) -> Self {
        Self::Config(e.to_string())
    }
}

/// The worker's registry from the notes configuration (`[pool]`, `[budget]`, `[directory]`,
/// ...), whose start hook creates each tenant's `job` table and then runs `notes_migrations`
/// (the notes example's, so that the worker can start before the notes server has served a
/// tenant).
///
/// # Errors
///
/// [`JobsError::Config`] when the configuration is invalid.
///
/// ```no_run
/// # fn f() -> Result<(), tenantpool_jobs::JobsError> {
/// let config = tenantpool_notes::load_config(None)?;
/// let registry = tenantpool_jobs::registry::<tenantpool::SqliteConnection>(
///     &config,
///     tenantpool_notes::SqliteMigrations,
/// )?;
/// # Ok(()) }
/// ```
pub fn registry<C: JobStore>(
    config: &config::Config,
    notes_migrations: impl tenantpool::TenantInit<C>,
) -> Result<Registry<C>, JobsError> {
    let settings = Settings::from_config(config)?;
    Ok(Registry::<C>::builder(settings)
        .tenant_init(CreateJobTable::then(notes_migrations))
        .build()?)
}

/// Adds `count` jobs of `kind` for `tenant`.
///
/// # Errors
///
/// A checkout or statement error.
///
/// ```no_run
/// # async fn f(r: tenantpool::Registry<tenantpool::SqliteConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// tenantpool_jobs::enqueue(&r, &tenantpool::TenantId::parse("acme")?, "count_notes", 3).await?;
/// # Ok(()) }
/// ```
pub async fn enqueue<C: JobStore>(
    registry: &Registry<C>,
    tenant: &tenantpool::TenantId,
    kind: &str,
    count: usize,
) -> Result<(), JobsError> {
    let mut conn = registry.get(tenant).await?;
    for _ in 0..count {
        C::enqueue(&mut conn, kind).await?;
    }
    Ok(())
}

/// The tenant's jobs by status: `(pending, done, failed)`.
///
/// # Errors
///
/// A checkout or statement error.
///
/// ```no_run
/// # async fn f(r: tenantpool::Registry<tenantpool::SqliteConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// let (pending, done, failed) = tenantpool_jobs::status(&r, &tenantpool::TenantId::parse("acme")?).await?;
/// # Ok(()) }
/// ```
pub async fn status<C: JobStore>(
    registry: &Registry<C>,
    tenant: &tenantpool::TenantId,
) -> Result<(i64, i64, i64), JobsError> {
    let mut conn = registry.get(tenant).await?;
    Ok((
        C::count_status(&mut conn, "pending").await?,
        C::count_status(&mut conn, "done").await?,
        C::count_status(&mut conn, "failed").await?,
    ))
}

/// Every job of `tenant`, by id.
///
/// # Errors
///
/// A checkout or statement error.
///
/// ```no_run
/// # async fn f(r: tenantpool::Registry<tenantpool::SqliteConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// for job in tenantpool_jobs::jobs(&r, &tenantpool::TenantId::parse("acme")?).await? {
///     println!("{} {} {:?}", job.kind, job.status, job.result);
/// }
/// # Ok(()) }
/// ```
pub async fn jobs<C: JobStore>(
    registry: &Registry<C>,
    tenant: &tenantpool::TenantId,
) -> Result<Vec<JobRow>, JobsError> {
    let mut conn = registry.get(tenant).await?;
    Ok(C::list(&mut conn).await?)
}
