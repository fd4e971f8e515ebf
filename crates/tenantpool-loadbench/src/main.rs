//! `tenantpool-loadbench`: the load benchmark's driver and its servers.
//!
//! ```text
//! tenantpool-loadbench run [--smoke] [--out DIR] [--pg postgres://user@host:port] [--variants a,b,...]
//! tenantpool-loadbench serve --variant a|b|c1|c2|d|e [--port P] [--pg URL] [--budget N] ...
//! tenantpool-loadbench replicas [--replicas 3] [--tenants 1000] [--budget 90] [--split both|on|off]
//! tenantpool-loadbench migrations [--tenants 1000] [--migrations 5] [--budget 20] [--rounds 3]
//! ```
//!
//! Use `scripts/loadbench`, which installs wrk, creates the databases and builds this first.

use std::process::ExitCode;

use tenantpool_loadbench::args::Args;
use tenantpool_loadbench::server::{serve, ServeOptions};
use tenantpool_loadbench::server_axum;
use tenantpool_loadbench::{driver, profile, Result};

const USAGE: &str =
    "usage: tenantpool-loadbench run [--smoke] [--out DIR] [--pg URL] [--variants a,b,c1,c2,d,e]
       tenantpool-loadbench serve --variant a|b|c1|c2|d|e [--port P] [--pg URL] [--budget N]
       tenantpool-loadbench profile --which deadpool|registry|schema|many [--iterations N]
       tenantpool-loadbench replicas [--replicas 3] [--tenants 1000] [--budget 90] [--split both|on|off]
       tenantpool-loadbench migrations [--tenants 1000] [--migrations 5] [--budget 20] [--rounds 3]
(scripts/loadbench runs everything; see docs/benchmarks.md)";

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1);
    let command = raw.next().unwrap_or_default();
    let rest: Vec<String> = raw.collect();
    let outcome = Args::parse(rest.clone()).and_then(|args| match command.as_str() {
        "run" => run(args, &rest),
        "serve" => {
            let opts = ServeOptions::from_args(&args)?;
            if opts.variant.is_axum() {
                server_axum::serve(opts).map(|()| true)
            } else {
                serve(opts).map(|()| true)
            }
        }
        "profile" => profile::run(&args).map(|()| true),
        "replicas" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(driver::replicas::run(&args))
        }
        "migrations" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(driver::migrations::run(&args))
        }
        _ => Err(USAGE.into()),
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tenantpool-loadbench {command}: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args, raw: &[String]) -> Result<bool> {
    let plan = driver::Plan::from_args(&args)?;
    let command = std::env::var("LOADBENCH_COMMAND")
        .unwrap_or_else(|_| format!("tenantpool-loadbench run {}", raw.join(" ")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let smoke = plan.smoke;
    let out = plan.out.clone();
    let (report, smoke_ok) = runtime.block_on(driver::run(plan, command))?;
    let md = driver::write(&report, &out)?;
    println!("{md}");
    eprintln!(
        "loadbench: results in {}/results.md and results.json",
        out.display()
    );
    if smoke {
        if smoke_ok {
            eprintln!("loadbench: smoke run passed");
        } else {
            eprintln!("loadbench: smoke run FAILED");
        }
        return Ok(smoke_ok);
    }
    Ok(true)
}
