//! Several replicas of one service on one PostgreSQL server (docs/scale-out.md): N C2
//! servers (a database per tenant), each in a process of its own, loaded at once by one wrk
//! each, with the sampler counting their connections on the server. Run twice: each process
//! with the whole budget (`--split off`, what N replicas do without `budget.replicas`), and
//! with `budget.replicas = N` (each process takes its share).
//!
//! ```text
//! tenantpool-loadbench replicas [--replicas 3] [--tenants 1000] [--budget 90] [--seconds 10]
//!     [--warmup 5] [--split both|on|off] [--pg URL] [--out DIR] [--port P]
//! ```
//!
//! Exits non-zero when the split run had a failed request or a sample over the budget.

use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use crate::args::Args;
use crate::sampler::{Sampler, Samples};
use crate::variant::Variant;
use crate::wrk::{self, WrkResult};
use crate::{client, fail, pg, Result};

use super::server_process::Server;
use super::{databases, log, Plan};

/// One run: N replicas at once.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicasRun {
    /// Whether each process took `budget / replicas` (`budget.replicas`) or the whole budget.
    pub split: bool,
    /// Processes.
    pub replicas: usize,
    /// The service's budget (the whole of it per process without the split).
    pub budget: usize,
    /// Each process's cap, as its registry reports it.
    pub per_process: usize,
    /// Each process's wrk measurement.
    pub measures: Vec<WrkResult>,
    /// Failed requests (non-2xx and socket errors) of every process, warm-up included.
    pub failed_requests: u64,
    /// Connect failures the registries counted (the server's "too many clients" among them).
    pub connect_failures: u64,
    /// What the server said it accepts (`BudgetStats::server_accepts`), from a replica.
    pub server_accepts: Option<u64>,
    /// The replicas' connections on the server, sampled (tagged `lb_c2`), over the run.
    pub samples: Samples,
}

/// The runs, and whether the split run held.
pub async fn run(args: &Args) -> Result<bool> {
    let mut plan = Plan::from_args(args)?;
    let replicas: usize = args.get("replicas", 3)?;
    plan.budget = args.get("budget", 90)?;
    let seconds: f64 = args.get("seconds", 10.0)?;
    let warmup: f64 = args.get("warmup", 5.0)?;
    let split = match args.get("split", "both".to_string())?.as_str() {
        "both" => vec![false, true],
        "on" => vec![true],
        "off" => vec![false],
        other => return fail(format!("--split {other:?}: both, on or off")),
    };
    if replicas == 0 || plan.budget < replicas {
        return fail("--budget must be at least --replicas");
    }
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| format!("cannot create {}: {e}", plan.out.display()))?;
    let script = wrk::write_script(&plan.out)?;
    let admin = pg::connect(&plan.admin_url()).await?;
    databases::check(&plan, &admin).await?;

    let mut runs = Vec::new();
    for split in split {
        let run = one(&plan, replicas, split, (warmup, seconds), &script).await?;
        log(format!(
            "replicas {replicas}, split {}: failed requests {}, connect failures {}, \
             most connections {} (budget {}, server accepts {:?}), samples over budget {}",
            if run.split { "on" } else { "off" },
            run.failed_requests,
            run.connect_failures,
            run.samples.max_app,
            run.budget,
            run.server_accepts,
            run.samples.over_budget
        ));
        runs.push(run);
    }
    std::fs::write(
        plan.out.join("replicas.json"),
        serde_json::to_string_pretty(&runs)?,
    )?;
    println!("{}", table(&runs));
    Ok(runs
        .iter()
        .filter(|r| r.split)
        .all(|r| r.failed_requests == 0 && r.samples.over_budget == 0))
}

/// N replicas at once, split or not; `times` is (warm-up, measure) in seconds.
async fn one(
    plan: &Plan,
    replicas: usize,
    split: bool,
    times: (f64, f64),
    script: &std::path::Path,
) -> Result<ReplicasRun> {
    let variant = Variant::C2;
    let app = variant.app_name();
    let left = crate::sampler::wait_drained(&plan.pg, &app, Duration::from_secs(15)).await?;
    if left > 0 {
        return fail(format!("{left} connections tagged {app} are still open"));
    }
    let sampler =
        Sampler::start(&plan.pg, &app, plan.sample_every, Some(plan.budget as i64)).await?;
    let extra = if split {
        vec!["--replicas".to_string(), replicas.to_string()]
    } else {
        Vec::new()
    };
    let mut servers = Vec::new();
    for i in 0..replicas {
        let port = plan.port + i as u16;
        let log_path = plan.out.join(format!(
            "server-replica{i}-split-{}.log",
            if split { "on" } else { "off" }
        ));
        servers.push(Server::spawn_with(plan, variant, port, &log_path, &extra).await?);
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}/", s.addr))
        .collect();
    let warm_load = plan.load(plan.tenants, Duration::from_secs_f64(times.0));
    let measure_load = plan.load(plan.tenants, Duration::from_secs_f64(times.1));
    let result = async {
        let warm = join_all(urls.iter().map(|u| wrk::run(u, script, &warm_load))).await;
        let measure = join_all(urls.iter().map(|u| wrk::run(u, script, &measure_load))).await;
        let mut stats = Vec::new();
        for s in &servers {
            stats.push(client::stats(s.addr).await?);
        }
        let warm = warm.into_iter().collect::<Result<Vec<_>>>()?;
        let measure = measure.into_iter().collect::<Result<Vec<_>>>()?;
        Ok::<_, crate::BoxError>((warm, measure, stats))
    }
    .await;
    for s in &mut servers {
        s.stop().await;
    }
    let drained = crate::sampler::wait_drained(&plan.pg, &app, Duration::from_secs(15)).await;
    let samples = sampler.finish().await?;
    drained?;
    let (warm, measures, stats) = result?;
    let failed = |w: &WrkResult| w.non2xx + w.socket_errors();
    let registries: Vec<_> = stats.iter().filter_map(|s| s.registry.as_ref()).collect();
    Ok(ReplicasRun {
        split,
        replicas,
        budget: plan.budget,
        failed_requests: warm.iter().chain(&measures).map(failed).sum(),
        connect_failures: registries.iter().map(|r| r.counters.connect_failures).sum(),
        per_process: registries
            .iter()
            .flat_map(|r| r.budgets.iter())
            .map(|b| b.limit)
            .max()
            .unwrap_or_default(),
        server_accepts: registries
            .iter()
            .flat_map(|r| r.budgets.iter())
            .find_map(|b| b.server_accepts),
        measures,
        samples,
    })
}

/// The runs as a Markdown table.
fn table(runs: &[ReplicasRun]) -> String {
    let mut out = String::from(
        "| replicas | budget.replicas | each process's budget | req/s (sum) | failed requests | connect failures | most connections on the server | samples over the budget |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let rps: f64 = r.measures.iter().map(WrkResult::rps).sum();
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} of {} (server accepts {}) | {} of {} |\n",
            r.replicas,
            if r.split {
                r.replicas.to_string()
            } else {
                "1 (not set)".to_string()
            },
            r.per_process,
            rps,
            r.failed_requests,
            r.connect_failures,
            r.samples.max_app,
            r.budget,
            r.server_accepts
                .map_or_else(|| "?".to_string(), |a| a.to_string()),
            r.samples.over_budget,
            r.samples.samples
        ));
    }
    out
}
