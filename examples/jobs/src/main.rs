//! `tenantpool-jobs [--config PATH] enqueue TENANT KIND [COUNT] | work [--once] | status TENANT`
//!
//! The configuration is the notes example's: `--config PATH`, else `$NOTES_CONFIG`, else
//! `config/default.toml`, with `NOTES_*` environment overrides. The backend is its
//! `[server] backend`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use diesel_async::{AsyncMysqlConnection, AsyncPgConnection};
use tenantpool::{SqliteConnection, TenantId};
use tenantpool_jobs::{JobStore, JobsError, Worker};
use tenantpool_notes::{BackendChoice, ServerConfig, ServerMigrations, SqliteMigrations};

const USAGE: &str =
    "tenantpool-jobs [--config PATH] enqueue TENANT KIND [COUNT] | work [--once] | status TENANT";

/// The parsed command line.
enum Command {
    Enqueue(TenantId, String, usize),
    Work { once: bool },
    Status(TenantId),
}

fn parse(args: &[String]) -> Result<(Option<PathBuf>, Command), JobsError> {
    let usage = || JobsError::Usage(USAGE.into());
    let (config, rest) = match args {
        [flag, path, rest @ ..] if flag == "--config" => (Some(PathBuf::from(path)), rest),
        rest => (None, rest),
    };
    let tenant =
        |s: &str| TenantId::parse(s).map_err(|e| JobsError::Usage(format!("{e}; {USAGE}")));
    let command = match rest {
        [c, t, kind] if c == "enqueue" => Command::Enqueue(tenant(t)?, kind.clone(), 1),
        [c, t, kind, n] if c == "enqueue" => {
            Command::Enqueue(tenant(t)?, kind.clone(), n.parse().map_err(|_| usage())?)
        }
        [c] if c == "work" => Command::Work { once: false },
        [c, once] if c == "work" && once == "--once" => Command::Work { once: true },
        [c, t] if c == "status" => Command::Status(tenant(t)?),
        _ => return Err(usage()),
    };
    Ok((config, command))
}

fn config_path(given: Option<PathBuf>) -> PathBuf {
    if let Some(path) = given {
        return path;
    }
    if let Ok(path) = std::env::var("NOTES_CONFIG") {
        return PathBuf::from(path);
    }
    let default = PathBuf::from("config/default.toml");
    if default.exists() {
        return default;
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/default.toml"
    ))
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn execute<C: JobStore>(
    config: &config::Config,
    notes_migrations: impl tenantpool::TenantInit<C>,
    command: Command,
) -> Result<(), JobsError> {
    let registry = tenantpool_jobs::registry::<C>(config, notes_migrations)?;
    let result = async {
        match command {
            Command::Enqueue(tenant, kind, count) => {
                tenantpool_jobs::enqueue(&registry, &tenant, &kind, count).await?;
                println!("enqueued {count} × {kind} for {tenant}");
            }
            Command::Status(tenant) => {
                let (pending, done, failed) = tenantpool_jobs::status(&registry, &tenant).await?;
                println!("{tenant}: pending={pending} done={done} failed={failed}");
            }
            Command::Work { once } => {
                let tenants = registry.tenants().await?;
                let workers = registry.settings().pool.max_size;
                let worker = Worker::new(registry.clone(), workers);
                let totals = if once {
                    worker.run_until_idle(tenants).await
                } else {
                    worker
                        .run(tenants, Duration::from_secs(1), stop_signal())
                        .await
                };
                println!(
                    "worked: done={} failed={} errors={}",
                    totals.done, totals.failed, totals.errors
                );
            }
        }
        Ok::<_, JobsError>(())
    }
    .await;
    let report = registry.shutdown(Duration::from_secs(10)).await;
    if !report.clean {
        tracing::warn!(
            ?report,
            "connections were still in use at the shutdown deadline"
        );
    }
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = async {
        let (path, command) = parse(&args)?;
        let config = tenantpool_notes::load_config(Some(&config_path(path)))?;
        let server: ServerConfig = config
            .get("server")
            .map_err(|e| JobsError::Config(format!("[server]: {e}")))?;
        match server.backend {
            BackendChoice::Sqlite => {
                execute::<SqliteConnection>(&config, SqliteMigrations, command).await
            }
            BackendChoice::Postgres => {
                execute::<AsyncPgConnection>(&config, ServerMigrations, command).await
            }
            BackendChoice::Mysql => {
                execute::<AsyncMysqlConnection>(&config, ServerMigrations, command).await
            }
        }
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ JobsError::Usage(_)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("tenantpool-jobs: {e}");
            ExitCode::FAILURE
        }
    }
}
