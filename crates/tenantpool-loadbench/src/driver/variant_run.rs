//! One variant under wrk: its server started with the sampler watching, a warm-up, the
//! measurement, the server stopped and its connections gone. Then the rounds of a variant
//! aggregated into one row of the results table (medians, sums, maxima).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::sampler::{self, Sampler, Samples};
use crate::stats::ServerStats;
use crate::variant::Variant;
use crate::wrk::{self, WrkResult};
use crate::{client, Result};

use super::server_process::Server;
use super::usage::Usage;
use super::{log, median, Plan};

/// One server run of one variant.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The variant.
    pub variant: Variant,
    /// Round (A and B run several).
    pub round: usize,
    /// The warm-up.
    pub warmup: WrkResult,
    /// The measurement.
    pub measure: WrkResult,
    /// Server-side connections, from before the server started until they were gone.
    pub samples: Samples,
    /// Connections the server opened during the measurement.
    pub connects_measured: u64,
    /// The server's `/_lb/stats` after the measurement.
    pub stats: ServerStats,
    /// The server process's CPU time and context switches during the measurement.
    pub server_usage: Usage,
}

impl Run {
    /// Server CPU time per request, microseconds.
    pub fn cpu_us_per_req(&self) -> f64 {
        self.server_usage.cpu_s * 1e6 / self.measure.requests.max(1) as f64
    }

    /// Server context switches per request.
    pub fn ctx_per_req(&self) -> f64 {
        self.server_usage.ctx_switches as f64 / self.measure.requests.max(1) as f64
    }

    /// Connections opened per second during the measurement.
    fn connects_per_s(&self) -> f64 {
        self.connects_measured as f64 / (self.measure.duration_us.max(1) as f64 / 1e6)
    }
}

/// One line of the results table: the runs of a variant, medians over rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// What it is.
    pub design: &'static str,
    /// Rounds aggregated.
    pub rounds: usize,
    /// Requests per second (median over rounds).
    pub rps: f64,
    /// 2xx requests per second (median).
    pub ok_rps: f64,
    /// Median latency, ms (median over rounds).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (median over rounds).
    pub p99_ms: f64,
    /// Non-2xx responses, measurement (sum over rounds).
    pub non2xx: u64,
    /// Non-2xx responses during warm-ups (sum).
    pub non2xx_warmup: u64,
    /// Socket errors, measurement (sum).
    pub socket_errors: u64,
    /// Socket errors during warm-ups (sum).
    pub socket_errors_warmup: u64,
    /// Most server-side connections at one sample (max over rounds, warm-up included).
    pub max_conns: i64,
    /// Samples taken (sum).
    pub samples: u64,
    /// Samples above the budget (sum; tenantpool variants).
    pub over_budget: u64,
    /// Connections opened per second during the measurement (median).
    pub connects_per_s: f64,
    /// Server CPU time per request, microseconds (median).
    pub cpu_us_per_req: f64,
    /// Server context switches per request (median).
    pub ctx_per_req: f64,
    /// The errors the server saw, by message or failure counter (first round with errors).
    pub errors: BTreeMap<String, u64>,
}

impl Row {
    /// Non-2xx responses and socket errors, warm-ups included.
    pub fn failed_requests(&self) -> u64 {
        self.non2xx + self.non2xx_warmup + self.socket_errors + self.socket_errors_warmup
    }
}

/// The row of `variant`, if it ran.
pub fn row(rows: &[Row], variant: Variant) -> Option<&Row> {
    rows.iter().find(|r| r.variant == variant)
}

/// Warns when connections tagged `app` are still open after `limit`.
async fn drain(pg: &str, app: &str, what: &str) -> Result<()> {
    let left = sampler::wait_drained(pg, app, Duration::from_secs(15)).await?;
    if left > 0 {
        log(format!("warning: {left} connections tagged {app} {what}"));
    }
    Ok(())
}

/// Runs `variant` once (round `round`) on `port`.
pub async fn run(
    plan: &Plan,
    variant: Variant,
    round: usize,
    port: u16,
    script: &Path,
) -> Result<Run> {
    let app = variant.app_name();
    drain(&plan.pg, &app, "are still open").await?;
    let (tenants, warmup, duration) = plan.shape(variant);
    let budget = variant.is_tenantpool().then_some(plan.budget as i64);
    let sampler = Sampler::start(&plan.pg, &app, plan.sample_every, budget).await?;
    let log_path = plan
        .out
        .join(format!("server-{}-{round}.log", variant.label()));
    log(format!(
        "{} ({}), round {}: warm-up {:?}, measure {:?}, {} tenant(s)",
        variant.label(),
        variant.describe(),
        round + 1,
        warmup,
        duration,
        tenants
    ));
    let mut server = Server::spawn(plan, variant, port, &log_path).await?;
    let url = format!("http://{}/", server.addr);
    let result = async {
        let warm = wrk::run(&url, script, &plan.load(tenants, warmup)).await?;
        let before = client::stats(server.addr).await?;
        let usage_before = Usage::of(server.pid());
        let measure = wrk::run(&url, script, &plan.load(tenants, duration)).await?;
        let usage = Usage::of(server.pid()).since(usage_before);
        let after = client::stats(server.addr).await?;
        Ok::<_, crate::BoxError>((warm, before, measure, after, usage))
    }
    .await;
    server.stop().await;
    let drained = drain(&plan.pg, &app, "outlived the server").await;
    let samples = sampler.finish().await?;
    drained?;
    let (warmup, before, measure, stats, usage) = result?;
    log(format!(
        "{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {}, max conns {}",
        variant.label(),
        measure.rps(),
        measure.p50_us as f64 / 1000.0,
        measure.p99_us as f64 / 1000.0,
        measure.non2xx,
        measure.socket_errors(),
        samples.max_app
    ));
    Ok(Run {
        variant,
        round,
        warmup,
        measure,
        samples,
        connects_measured: stats.connects.saturating_sub(before.connects),
        stats,
        server_usage: usage,
    })
}

/// One row per variant of the plan, from its runs.
pub fn rows(variants: &[Variant], runs: &[Run]) -> Vec<Row> {
    variants
        .iter()
        .map(|v| {
            let of: Vec<&Run> = runs.iter().filter(|r| r.variant == *v).collect();
            aggregate(*v, &of)
        })
        .collect()
}

/// The rounds of `variant` as one row.
fn aggregate(variant: Variant, runs: &[&Run]) -> Row {
    let f = |g: &dyn Fn(&Run) -> f64| median(runs.iter().map(|r| g(r)).collect());
    let sum = |g: &dyn Fn(&Run) -> u64| runs.iter().map(|r| g(r)).sum();
    Row {
        variant,
        design: variant.describe(),
        rounds: runs.len(),
        rps: f(&|r| r.measure.rps()),
        ok_rps: f(&|r| r.measure.ok_rps()),
        p50_ms: f(&|r| r.measure.p50_us as f64 / 1000.0),
        p99_ms: f(&|r| r.measure.p99_us as f64 / 1000.0),
        non2xx: sum(&|r| r.measure.non2xx),
        non2xx_warmup: sum(&|r| r.warmup.non2xx),
        socket_errors: sum(&|r| r.measure.socket_errors()),
        socket_errors_warmup: sum(&|r| r.warmup.socket_errors()),
        max_conns: runs.iter().map(|r| r.samples.max_app).max().unwrap_or(0),
        samples: sum(&|r| r.samples.samples),
        over_budget: sum(&|r| r.samples.over_budget),
        connects_per_s: f(&Run::connects_per_s),
        cpu_us_per_req: f(&Run::cpu_us_per_req),
        ctx_per_req: f(&Run::ctx_per_req),
        errors: runs
            .iter()
            .map(|r| r.stats.error_summary())
            .find(|e| !e.is_empty())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(variant: Variant, requests: u64, errors: &str) -> Result<Run> {
        let stats = format!(
            r#"{{"variant":"{}","connects":10,"errors":{{"total":1,"by_message":{errors}}}}}"#,
            variant.label()
        );
        Ok(Run {
            variant,
            round: 0,
            warmup: WrkResult::default(),
            measure: WrkResult {
                requests,
                duration_us: 2_000_000,
                non2xx: 1,
                ..WrkResult::default()
            },
            samples: Samples::default(),
            connects_measured: 10,
            stats: serde_json::from_str(&stats)?,
            server_usage: Usage::default(),
        })
    }

    #[test]
    fn a_row_takes_medians_sums_and_the_first_errors_reported() -> Result<()> {
        let runs = [
            run(Variant::A, 2000, "{}")?,
            run(Variant::A, 4000, r#"{"pool timed out":2}"#)?,
            run(Variant::A, 6000, r#"{"other":1}"#)?,
            run(Variant::D, 100, "{}")?,
        ];
        let rows = rows(&[Variant::A], &runs);
        let a = row(&rows, Variant::A).ok_or("no row A")?;
        assert_eq!(a.rounds, 3);
        assert_eq!(a.rps, 2000.0);
        assert_eq!(a.non2xx, 3);
        assert_eq!(a.connects_per_s, 5.0);
        assert_eq!(a.errors.get("pool timed out"), Some(&2));
        assert!(row(&rows, Variant::D).is_none());
        Ok(())
    }
}
