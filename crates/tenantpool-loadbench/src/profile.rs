//! Checkout loops for instruction-level profiling under callgrind, which counts instructions
//! repeatably on a noisy machine where wall-clock micro-benchmarks are not:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*profile_loop*' \
//!     target/release/tenantpool-loadbench profile --which registry --iterations 20000
//! ```
//!
//! `--which`: `deadpool` (diesel-async's deadpool pool, `RecyclingMethod::Fast`), `registry`
//! (database mode), `schema` (schema mode, already on the schema), `many` (1,000 cached
//! tenants sharing one pool, rotating). Instructions per checkout = Ir / iterations.
//!
//! The held-too-long watch (`pool.leak_warning_after`) is on, as by default, with no tracing
//! subscriber; `--held off` turns it off, `--held warn` installs a subscriber that shows WARN
//! events (as a deployed service has), so that a checkout also keeps its span and tenant.

use std::time::Instant;

use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use tenantpool::{
    DatabaseUrl, Registry, SchemaName, Settings, StaticDirectory, TenantId, TenantTarget,
};

use crate::args::Args;
use crate::{db_url, fail, Result};

fn registry(directory: StaticDirectory, held_off: bool) -> Result<Registry<AsyncPgConnection>> {
    let mut settings = Settings::default();
    if held_off {
        settings.pool.leak_warning_after = std::time::Duration::ZERO;
    }
    settings.pool.max_size = 4;
    settings.budget.max_connections = 8;
    Ok(Registry::builder(settings).directory(directory).build()?)
}

#[inline(never)]
async fn deadpool_profile_loop(pool: &Pool<AsyncPgConnection>, n: usize) -> Result<()> {
    for _ in 0..n {
        let conn = pool.get().await?;
        drop(std::hint::black_box(conn));
    }
    Ok(())
}

#[inline(never)]
async fn registry_profile_loop(
    registry: &Registry<AsyncPgConnection>,
    keys: &[TenantId],
    n: usize,
) -> Result<()> {
    for i in 0..n {
        let conn = registry.get(&keys[i % keys.len()]).await?;
        drop(std::hint::black_box(conn));
    }
    Ok(())
}

/// Runs `profile --which deadpool|registry|schema|many --iterations N [--pg URL]
/// [--held on|off|warn] [--metrics on|off]` (`--metrics on` installs the Prometheus recorder
/// before the registry is built; it needs the crate's `metrics` feature).
pub fn run(args: &Args) -> Result<()> {
    let which = args.get("which", "registry".to_string())?;
    let n: usize = args.get("iterations", 20_000)?;
    let pg = args.get("pg", "postgres://postgres@127.0.0.1:5432".to_string())?;
    let url = db_url(&pg, "postgres", "lb_profile");
    let held = args.get("held", "on".to_string())?;
    let held_off = match held.as_str() {
        "on" => false,
        "off" => true,
        "warn" => {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_writer(std::io::stderr)
                .init();
            false
        }
        other => return fail(format!("--held {other:?}: on, off or warn")),
    };
    match args.get("metrics", "off".to_string())?.as_str() {
        "off" => {}
        #[cfg(feature = "metrics")]
        "on" => {
            tenantpool::actix::admin::AdminMetrics::install()?;
        }
        other => return fail(format!("--metrics {other:?}: on (feature metrics) or off")),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let target = DatabaseUrl::parse(&url)?;
        let one = vec![TenantId::parse("acme")?];
        let started;
        match which.as_str() {
            "deadpool" => {
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                let manager =
                    AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&url, config);
                let pool: Pool<AsyncPgConnection> = Pool::builder(manager).max_size(4).build()?;
                drop(pool.get().await?);
                let conn = pool.get().await?;
                println!(
                    "sizes: AsyncPgConnection {} B, deadpool Object {} B, Pool::get future {} B",
                    std::mem::size_of::<AsyncPgConnection>(),
                    std::mem::size_of_val(&conn),
                    std::mem::size_of_val(&pool.get()),
                );
                drop(conn);
                started = Instant::now();
                deadpool_profile_loop(&pool, n).await?;
            }
            "registry" | "schema" => {
                let t = if which == "schema" {
                    TenantTarget::schema(target, SchemaName::parse("public")?)
                } else {
                    TenantTarget::database(target)
                };
                let r = registry(StaticDirectory::new().with(one[0].clone(), t), held_off)?;
                drop(r.get(&one[0]).await?);
                let conn = r.get(&one[0]).await?;
                println!(
                    "sizes: AsyncPgConnection {} B, PooledConnection {} B, Registry::get future {} B",
                    std::mem::size_of::<AsyncPgConnection>(),
                    std::mem::size_of_val(&conn),
                    std::mem::size_of_val(&r.get(&one[0])),
                );
                drop(conn);
                started = Instant::now();
                registry_profile_loop(&r, &one, n).await?;
            }
            "many" => {
                let keys = (0..1000)
                    .map(|i| TenantId::parse(&format!("t{i}")))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let mut directory = StaticDirectory::new();
                for k in &keys {
                    directory.insert(k.clone(), TenantTarget::database(target.clone()));
                }
                let r = registry(directory, held_off)?;
                for k in &keys {
                    drop(r.get(k).await?);
                }
                r.run_maintenance();
                started = Instant::now();
                registry_profile_loop(&r, &keys, n).await?;
            }
            other => return fail(format!("--which {other:?}: deadpool, registry, schema or many")),
        }
        let per = started.elapsed().as_nanos() as f64 / n as f64;
        println!("{which}: {n} checkouts, {per:.0} ns each (wall clock, unreliable under valgrind)");
        Ok(())
    })
}
