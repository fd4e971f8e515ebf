//! Runs the whole benchmark in one invocation: every variant's server in turn (each in a
//! process of its own) under wrk, with the connection sampler running from before the server
//! starts until its connections are gone; then the connect ceiling, the cold-start experiment
//! and the memory binary. Writes `results.json` and `results.md` and prints the table.
//!
//! | module | what |
//! | --- | --- |
//! | [`plan`] | what one invocation does, from the command line |
//! | [`databases`] | the tenant databases and schemas the plan needs exist |
//! | [`machine`] | the machine the numbers come from |
//! | [`server_process`] | one variant's server in a process of its own |
//! | [`usage`] | a process's CPU time and context switches, from /proc |
//! | [`variant_run`] | one variant under wrk, and its rounds aggregated into a row |
//! | [`connect_ceiling`] | how fast PostgreSQL opens connections: C2's ceiling |
//! | [`cold_start`] | first requests for cold tenants, and the stampede |
//! | [`memory_run`] | the memory binary, once per tenant count |
//! | [`targets`] | the targets, measured |
//! | [`smoke`] | the smoke run's verdict |
//! | [`report`] | everything measured, as `results.json` and `results.md` |
//! | [`replicas`] | several replicas on one server, with and without `budget.replicas` (its own command) |

use std::time::Duration;

pub mod cold_start;
pub mod connect_ceiling;
pub mod databases;
pub mod machine;
pub mod memory_run;
pub mod migrations;
pub mod plan;
pub mod replicas;
pub mod report;
pub mod server_process;
pub mod smoke;
pub mod targets;
pub mod usage;
pub mod variant_run;

pub use plan::Plan;
pub use report::{write, Report};

use crate::variant::Variant;
use crate::{pg, wrk, Result};

/// Prints a progress line for the person running the benchmark.
fn log(message: impl AsRef<str>) {
    eprintln!("loadbench: {}", message.as_ref());
}

/// The median of `v`; 0 when empty.
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// `d` in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The value of an experiment that succeeded; logs and records one that failed.
fn kept<T>(failures: &mut Vec<String>, what: String, outcome: Result<T>) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(e) => {
            log(format!("error: {what} failed: {e}"));
            failures.push(format!("{what}: {e}"));
            None
        }
    }
}

/// Runs the plan; returns the report and whether the smoke checks passed.
pub async fn run(plan: Plan, command: String) -> Result<(Report, bool)> {
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| format!("cannot create {}: {e}", plan.out.display()))?;
    let script = wrk::write_script(&plan.out)?;
    let admin = pg::connect(&plan.admin_url()).await?;
    let pg_version: String = admin.query_one("SELECT version()", &[]).await?.try_get(0)?;
    databases::check(&plan, &admin).await?;
    let machine = machine::Machine::read(pg_version);
    log(format!("machine: {}", serde_json::to_string(&machine)?));
    let date = admin
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .await?
        .try_get(0)?;

    let mut runs = Vec::new();
    let mut port = plan.port;
    for (variant, round) in plan.order() {
        runs.push(variant_run::run(&plan, variant, round, port, &script).await?);
        // Kept as it goes, so that a failure later leaves what was measured.
        std::fs::write(
            plan.out.join("runs.json"),
            serde_json::to_string_pretty(&runs)?,
        )?;
        port += 1;
    }
    let rows = variant_run::rows(&plan.variants, &runs);

    // The experiments after the variants fail on their own: the report names what failed.
    let mut failures = Vec::new();
    let connect_ceiling = if plan.measures_connect_ceiling() {
        let a_rps = variant_run::row(&rows, Variant::A).map(|a| a.rps);
        let outcome = connect_ceiling::measure(&plan, a_rps).await;
        kept(&mut failures, "connect ceiling".to_string(), outcome)
    } else {
        None
    };
    let coldstart = if plan.coldstart {
        port += 1;
        let outcome = cold_start::measure(&plan, port).await;
        kept(&mut failures, "cold start".to_string(), outcome)
    } else {
        None
    };
    let mut memory = Vec::new();
    for tenants in &plan.memory_tenants {
        let outcome = memory_run::measure(&plan, *tenants).await;
        let what = format!("memory at {tenants} tenants");
        memory.extend(kept(&mut failures, what, outcome));
    }

    let targets = targets::measure(
        &plan,
        &rows,
        coldstart.as_ref(),
        connect_ceiling.as_ref(),
        &memory,
    );
    let smoke_ok = smoke::passed(&plan, &rows) && failures.is_empty();
    let report = Report {
        date,
        machine,
        command,
        query: plan.query,
        plan: format!("{plan:?}"),
        runs,
        rows,
        coldstart,
        connect_ceiling,
        memory,
        targets,
        failures,
    };
    Ok((report, smoke_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
