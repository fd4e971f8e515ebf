//! `tenantpool-notes-axum [--config PATH]`: serves the notes API on axum.
//!
//! The same configuration as `tenantpool-notes`: `--config PATH`, else `$NOTES_CONFIG`, else
//! `config/default.toml`; `NOTES_*` environment variables override it
//! (`NOTES_SERVER__BIND=0.0.0.0:8080`). `[server] workers` is the number of tokio worker
//! threads. SIGINT or SIGTERM stop it gracefully.

use std::path::PathBuf;
use std::process::ExitCode;

fn config_path() -> Result<PathBuf, String> {
    const USAGE: &str = "usage: tenantpool-notes-axum [--config PATH]   (or NOTES_CONFIG=PATH)";
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, path] if flag == "--config" => return Ok(PathBuf::from(path)),
        [arg] if arg.starts_with("--config=") => {
            return Ok(PathBuf::from(&arg["--config=".len()..]));
        }
        _ => return Err(USAGE.into()),
    }
    if let Ok(path) = std::env::var("NOTES_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let default = PathBuf::from("config/default.toml");
    if default.exists() {
        return Ok(default);
    }
    // `cargo run -p tenantpool-notes-axum` from anywhere in the workspace.
    Ok(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/default.toml"
    )))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let path = match config_path() {
        Ok(path) => path,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = match tenantpool_notes::load_config(Some(&path)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cannot start with {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let workers = tenantpool_notes::ServerConfig::from_config(&config).map_or(2, |s| s.workers);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, path))
}

async fn serve(config: config::Config, path: PathBuf) -> ExitCode {
    let notes = match tenantpool_notes_axum::start(&config).await {
        Ok(notes) => notes,
        Err(e) => {
            eprintln!("cannot start with {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    // Tests and scripts read this line to find the port.
    println!(
        "notes listening on http://{} (config {})",
        notes.addr(),
        path.display()
    );
    match notes.run(tenantpool_axum::shutdown_signal()).await {
        Ok(reports) if reports.iter().all(|r| r.clean) => ExitCode::SUCCESS,
        Ok(reports) => {
            eprintln!("stopped, but connections were still in use at the deadline: {reports:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
