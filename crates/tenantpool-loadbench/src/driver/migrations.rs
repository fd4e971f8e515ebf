//! Tenant migrations in bulk against a serial loop (docs/benchmarks.md, "Migrations at
//! scale"): N schema tenants of one database, each given M migrations, by diesel's
//! `run_pending_migrations` over one connection, schema after schema (the loop), and by
//! tenantpool's `migrate_all` through a registry with a budget (the bulk run), in interleaved
//! rounds; then the bulk run again with nothing pending. The sampler counts the registry's
//! connections on the server (tagged `lb_migrate`; the catalog's two are tagged apart).
//!
//! ```text
//! tenantpool-loadbench migrations [--tenants 1000] [--migrations 5] [--budget 20] [--rounds 3]
//!     [--pg URL] [--out DIR]
//! ```
//!
//! Exits non-zero when a tenant failed or a sample saw more connections than the budget.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel_async::{AsyncMigrationHarness, SimpleAsyncConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use serde::Serialize;
use tenantpool::catalog::Catalog;
use tenantpool::migrations::{migrate_all, MigrationOutcome, TenantMigrations};
use tenantpool::{DatabaseUrl, Registry, Settings, TenantId};

use crate::args::Args;
use crate::sampler::{Sampler, Samples};
use crate::{pg, Result};

use super::{log, Plan};

const DATABASE: &str = "lb_migrate";
const TAG: &str = "lb_migrate";

/// One interleaved round.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationRound {
    /// Seconds the serial loop took for every tenant.
    pub loop_seconds: f64,
    /// Cores the machine kept busy during the loop (client and server together).
    pub loop_busy_cores: f64,
    /// Cores the machine kept busy during the bulk run.
    pub bulk_busy_cores: f64,
    /// Seconds `migrate_all` took for every tenant.
    pub bulk_seconds: f64,
    /// Seconds `migrate_all` took again, with nothing pending.
    pub current_seconds: f64,
    /// Transactions the server counted in the database during the run with nothing pending.
    pub current_transactions: i64,
    /// The registry's connections on the server during the bulk runs.
    pub samples: Samples,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub tenants: usize,
    pub migrations: u32,
    pub budget: usize,
    pub rounds: Vec<MigrationRound>,
}

fn tenant(i: usize) -> String {
    format!("t{i}")
}

fn url(base: &str, database: &str, tag: &str) -> String {
    format!("{base}/{database}?application_name={tag}")
}

/// Writes `count` migrations, each a table with an index, into `dir`.
fn write_migrations(dir: &Path, count: u32) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    for n in 1..=count {
        let folder = dir.join(format!("2026120100000{n}_table_{n}"));
        std::fs::create_dir_all(&folder)?;
        std::fs::write(
            folder.join("up.sql"),
            format!(
                "CREATE TABLE item_{n} (id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, body TEXT, \
                 created_at TIMESTAMPTZ NOT NULL DEFAULT now());\n\
                 CREATE INDEX item_{n}_owner ON item_{n} (owner);\n"
            ),
        )?;
        std::fs::write(folder.join("down.sql"), format!("DROP TABLE item_{n};\n"))?;
    }
    Ok(())
}

/// Empties every tenant's schema and forgets the recorded versions.
async fn reset(client: &tokio_postgres::Client, tenants: usize) -> Result<()> {
    client
        .batch_execute(&format!(
            "DO $$ BEGIN FOR i IN 1..{tenants} LOOP \
               EXECUTE format('DROP SCHEMA IF EXISTS m_t%s CASCADE', i); \
               EXECUTE format('CREATE SCHEMA m_t%s', i); \
             END LOOP; END $$; \
             UPDATE tenantpool_tenants SET migration_version = NULL;"
        ))
        .await?;
    Ok(())
}

/// The loop: one connection, each schema in turn, diesel's harness.
async fn serial_loop(base: &str, dir: &Path, tenants: usize) -> Result<f64> {
    let source = FileBasedMigrations::from_path(dir)?;
    let mut conn = pg::establish(&url(base, DATABASE, "lb_migrate_loop")).await?;
    let started = Instant::now();
    for i in 1..=tenants {
        conn.batch_execute(&format!("SET search_path TO m_t{i}"))
            .await?;
        let mut harness = AsyncMigrationHarness::new(conn);
        let applied = harness
            .run_pending_migrations(source.clone())
            .map_err(|e| format!("loop, tenant {i}: {e}"))?
            .len();
        if applied == 0 {
            return Err(format!("loop, tenant {i}: nothing applied").into());
        }
        conn = harness.into_inner();
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The machine's busy and total CPU time so far, in clock ticks (`/proc/stat`, every core):
/// how many cores a phase keeps busy shows the bound a parallel run can reach.
fn cpu_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    (busy, fields.iter().take(8).sum())
}

/// Cores kept busy between two readings of [`cpu_ticks`], of `cores`.
fn busy_cores(before: (u64, u64), after: (u64, u64), cores: f64) -> f64 {
    let total = after.1.saturating_sub(before.1) as f64;
    if total == 0.0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total * cores
}

/// Transactions the server counted in the benchmark's database so far. A backend reports its
/// counts at most once a second, so the reading waits for them to settle.
async fn transactions(client: &tokio_postgres::Client) -> Result<i64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row = client
        .query_one(
            "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = $1",
            &[&DATABASE],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn run(args: &Args) -> Result<bool> {
    let plan = Plan::from_args(args)?;
    let tenants: usize = args.get("tenants", 1000)?;
    let count: u32 = args.get("migrations", 5)?;
    let budget: usize = args.get("budget", 20)?;
    let rounds: usize = args.get("rounds", 3)?;
    let base = plan.pg.trim_end_matches('/').to_string();
    std::fs::create_dir_all(&plan.out)?;
    let dir = plan.out.join("migrations");
    write_migrations(&dir, count)?;

    log(format!(
        "setting up {DATABASE}: the catalog and {tenants} schema tenants"
    ));
    let admin = pg::connect(&url(&base, "postgres", "lb_migrate_admin")).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    let catalog = Catalog::new(DatabaseUrl::parse(&url(
        &base,
        DATABASE,
        "lb_migrate_catalog",
    ))?)
    .placement(
        "main",
        tenantpool::catalog::Placement::schema(&url(&base, DATABASE, TAG), "m_{tenant}")?,
    );
    catalog.install().await?;
    let client = pg::connect(&url(&base, DATABASE, "lb_migrate_admin")).await?;
    client
        .batch_execute(&format!(
            "INSERT INTO tenantpool_tenants (tenant_key, placement, status, version, created_at, updated_at) \
             SELECT 't' || i, 'main', 'active', 0, 0, 0 FROM generate_series(1, {tenants}) AS i"
        ))
        .await?;
    let keys: Vec<TenantId> = (1..=tenants)
        .map(|i| TenantId::parse(&tenant(i)))
        .collect::<std::result::Result<_, _>>()?;

    let mut report = MigrationReport {
        tenants,
        migrations: count,
        budget,
        rounds: Vec::new(),
    };
    let mut ok = true;
    for round in 1..=rounds {
        reset(&client, tenants).await?;
        let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
        let ticks = cpu_ticks();
        let loop_seconds = serial_loop(&base, &dir, tenants).await?;
        let loop_busy_cores = busy_cores(ticks, cpu_ticks(), cores);
        log(format!(
            "round {round}: loop {loop_seconds:.2} s ({:.0} tenants/s)",
            tenants as f64 / loop_seconds
        ));
        reset(&client, tenants).await?;

        let mut settings = Settings::default();
        settings.budget.max_connections = budget;
        settings.pool.max_size = budget;
        settings.pool.checkout_timeout = Duration::from_secs(60);
        settings.cache.max_tenants = (tenants as u64).max(1);
        let registry = Registry::<diesel_async::AsyncPgConnection>::builder(settings)
            .directory(catalog.clone())
            .build()?;
        let migrations = TenantMigrations::new(FileBasedMigrations::from_path(&dir)?)
            .recorded_in(catalog.clone());
        let sampler = Sampler::start(&base, TAG, plan.sample_every, Some(budget as i64)).await?;
        let ticks = cpu_ticks();
        let started = Instant::now();
        let bulk = migrate_all(&registry, &migrations, keys.clone(), budget, false, |_| {}).await;
        let bulk_seconds = started.elapsed().as_secs_f64();
        let bulk_busy_cores = busy_cores(ticks, cpu_ticks(), cores);
        let applied = bulk
            .iter()
            .filter(
                |l| matches!(&l.outcome, MigrationOutcome::Applied(v) if v.len() == count as usize),
            )
            .count();
        let before = transactions(&client).await?;
        let started = Instant::now();
        let again = migrate_all(&registry, &migrations, keys.clone(), budget, false, |_| {}).await;
        let current_seconds = started.elapsed().as_secs_f64();
        let current_transactions = transactions(&client).await? - before - 1;
        let samples = sampler.finish().await?;
        registry.shutdown(Duration::from_secs(10)).await;
        let current = again
            .iter()
            .filter(|l| l.outcome == MigrationOutcome::Current)
            .count();
        log(format!(
            "round {round}: bulk {bulk_seconds:.2} s ({:.0} tenants/s, {applied}/{tenants} applied), \
             nothing pending {current_seconds:.3} s ({current}/{tenants} current, {current_transactions} transactions), \
             peak {} connections, {} of {} samples over the budget",
            tenants as f64 / bulk_seconds,
            samples.max_app,
            samples.over_budget,
            samples.samples
        ));
        ok &= applied == tenants && current == tenants && samples.over_budget == 0;
        report.rounds.push(MigrationRound {
            loop_seconds,
            loop_busy_cores,
            bulk_busy_cores,
            bulk_seconds,
            current_seconds,
            current_transactions,
            samples,
        });
    }
    let ratios: Vec<f64> = report
        .rounds
        .iter()
        .map(|r| r.loop_seconds / r.bulk_seconds)
        .collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!("migrations: {tenants} schema tenants x {count} migrations, budget {budget}, {rounds} interleaved rounds");
    println!("| round | loop tenants/s | loop cores busy | bulk tenants/s | bulk cores busy | bulk/loop | nothing pending (s) | transactions | peak connections | samples over budget |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, r) in report.rounds.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.3} | {} | {} | {} of {} |",
            i + 1,
            tenants as f64 / r.loop_seconds,
            r.loop_busy_cores,
            tenants as f64 / r.bulk_seconds,
            r.bulk_busy_cores,
            ratios[i],
            r.current_seconds,
            r.current_transactions,
            r.samples.max_app,
            r.samples.over_budget,
            r.samples.samples
        );
    }
    println!("median bulk/loop: {median:.2}");
    std::fs::write(
        plan.out.join("migrations.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    if !ok {
        log(format!(
            "migrations: a tenant failed or a sample exceeded the budget (see {})",
            plan.out.display()
        ));
    }
    Ok(ok)
}
