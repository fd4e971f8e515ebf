//! `tenantpool`: the operator CLI for the tenant catalog.
//!
//! It reads the service's own configuration (the file, then the environment under the
//! service's prefix), so that it reaches the same control database with the same
//! credentials. Exit codes (see [`exit`]): 0 done, 1 failed, 2 bad usage or configuration,
//! 3 no such tenant, 4 the tenant exists, 5 the tenant is locked by another operation,
//! 6 a database is unreachable.

mod cli;
mod exit;
mod migrate;
mod output;
mod run;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return output::fail(
                json,
                &exit::Failure::other(format!("cannot start a runtime: {e}")),
            )
        }
    };
    match runtime.block_on(run::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => output::fail(json, &failure),
    }
}
