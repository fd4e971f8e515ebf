//! Everything a run measured, written as `results.json` and as `results.md` (the tables
//! docs/benchmarks.md quotes).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::memory::MemoryResult;
use crate::query::Query;
use crate::variant::Variant;
use crate::Result;

use super::cold_start::ColdStart;
use super::connect_ceiling::ConnectCeiling;
use super::machine::Machine;
use super::targets::Target;
use super::variant_run::{Row, Run};

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When (UTC, RFC 3339).
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// The query every server ran per request.
    pub query: Query,
    /// The plan, as text.
    pub plan: String,
    /// Each server run.
    pub runs: Vec<Run>,
    /// The table.
    pub rows: Vec<Row>,
    /// The cold-start experiment.
    pub coldstart: Option<ColdStart>,
    /// The connect-rate ceiling of C2.
    pub connect_ceiling: Option<ConnectCeiling>,
    /// The memory measurement, one per tenant count.
    pub memory: Vec<MemoryResult>,
    /// Each target, measured.
    pub targets: Vec<Target>,
    /// Parts that failed (cold start, memory), with their errors.
    pub failures: Vec<String>,
}

/// The results as Markdown: the header, the variants' table, each experiment, the targets.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    header(&mut s, report);
    variants(&mut s, report);
    if let Some(c) = &report.connect_ceiling {
        connect_ceiling(&mut s, c);
    }
    if let Some(c) = &report.coldstart {
        cold_start(&mut s, c);
    }
    memory(&mut s, &report.memory);
    for failure in &report.failures {
        let _ = writeln!(s, "\n**Failed:** {failure}");
    }
    targets(&mut s, &report.targets);
    s
}

/// Appends a Markdown table: its header line, the rule under it, one line per row.
fn table(s: &mut String, header: &str, rule: &str, rows: impl IntoIterator<Item = String>) {
    let _ = writeln!(s, "{header}\n{rule}");
    for row in rows {
        let _ = writeln!(s, "{row}");
    }
}

/// When, where, which query and which command.
fn header(s: &mut String, report: &Report) {
    let m = &report.machine;
    let _ = writeln!(s, "Date: {} (UTC)  ", report.date);
    let _ = writeln!(
        s,
        "Machine: {} cores ({}), {} GiB, Linux {}; {}  ",
        m.cores,
        m.cpu,
        m.memory_gib,
        m.kernel,
        m.postgres_short()
    );
    let _ = writeln!(s, "Load average at start: {}  ", m.loadavg_at_start);
    let query = report.query;
    let _ = writeln!(s, "Query: {} ({})  ", query.label(), query.describe());
    let _ = writeln!(
        s,
        "Transport: sslmode={} for every variant  ",
        crate::sslmode()
    );
    let _ = writeln!(s, "Command: `{}`\n", report.command);
}

/// The results table, the errors the servers named, and every round of A and B.
fn variants(s: &mut String, report: &Report) {
    table(
        s,
        "| variant | design | req/s | 2xx req/s | p50 ms | p99 ms | non-2xx | socket errors | max server conns | connects/s | server CPU µs/req | ctx switches/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        report.rows.iter().map(|r| {
            let rounds = if r.rounds > 1 {
                format!(" (median of {})", r.rounds)
            } else {
                String::new()
            };
            format!(
                "| {} | {}{rounds} | {:.0} | {:.0} | {:.2} | {:.2} | {} (+{} warm-up) | {} (+{} warm-up) | {} | {:.0} | {:.1} | {:.2} |",
                r.variant,
                r.design,
                r.rps,
                r.ok_rps,
                r.p50_ms,
                r.p99_ms,
                r.non2xx,
                r.non2xx_warmup,
                r.socket_errors,
                r.socket_errors_warmup,
                r.max_conns,
                r.connects_per_s,
                r.cpu_us_per_req,
                r.ctx_per_req
            )
        }),
    );
    if report.rows.iter().any(|r| !r.errors.is_empty()) {
        let _ = writeln!(s, "\nErrors the servers reported:\n");
        for r in &report.rows {
            for (message, count) in &r.errors {
                let _ = writeln!(s, "- {}: {count} × `{}`", r.variant, message.trim());
            }
        }
    }
    if report.runs.iter().any(|r| r.round > 0) {
        let _ = writeln!(
            s,
            "\nEvery round of A and B (and AX, BX; interleaved A B A B ...):\n"
        );
        let ab = report.runs.iter().filter(|r| {
            matches!(
                r.variant,
                Variant::A | Variant::B | Variant::AX | Variant::BX
            )
        });
        table(
            s,
            "| run | req/s | p50 ms | p99 ms | server CPU µs/req | ctx switches/req |",
            "|---|---:|---:|---:|---:|---:|",
            ab.map(|r| {
                format!(
                    "| {}{} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} |",
                    r.variant,
                    r.round + 1,
                    r.measure.rps(),
                    r.measure.p50_us as f64 / 1000.0,
                    r.measure.p99_us as f64 / 1000.0,
                    r.cpu_us_per_req(),
                    r.ctx_per_req()
                )
            }),
        );
    }
}

/// The connect ceiling and the bounds it puts on C2.
fn connect_ceiling(s: &mut String, c: &ConnectCeiling) {
    let _ = writeln!(
        s,
        "\nConnect ceiling: {:.0} connects/s (raw `tokio_postgres::connect`, `SELECT 1` and close, {} clients for {:.1} s, no server under test running). At least {:.1} % of C's requests must open a connection (the Zipf load outside the budget's hottest tenants), so C2 ≤ {:.0} req/s if every cycle went to connects{}.",
        c.per_second,
        c.clients,
        c.seconds,
        c.min_miss_share * 100.0,
        c.c2_max_connects_only,
        c.c2_max.map_or(String::new(), |m| format!(
            ", and ≤ {m:.0} req/s once each request also costs the machine what one of A's does"
        ))
    );
}

/// The cold-start table and the stampede.
fn cold_start(s: &mut String, c: &ColdStart) {
    let _ = writeln!(s, "\nCold start ({} samples each):\n", c.samples);
    table(
        s,
        "| measurement | median ms | max ms |",
        "|---|---:|---:|",
        [
            format!(
                "| raw `tokio_postgres::connect` to a tenant database | {:.2} | {:.2} |",
                c.raw_connect_p50_ms, c.raw_connect_max_ms
            ),
            format!(
                "| raw connect + `SELECT 1` | {:.2} | - |",
                c.raw_connect_query_p50_ms
            ),
            format!(
                "| TTFB, warm tenant, new HTTP connection | {:.2} | - |",
                c.warm_ttfb_p50_ms
            ),
            format!(
                "| TTFB, cold tenant (C2 server) | {:.2} | {:.2} |",
                c.cold_ttfb_p50_ms, c.cold_ttfb_max_ms
            ),
            format!(
                "| {} concurrent first requests, one cold tenant: TTFB | {:.2} | {:.2} |",
                c.stampede_requests, c.stampede_ttfb_p50_ms, c.stampede_ttfb_max_ms
            ),
        ],
    );
    let _ = writeln!(
        s,
        "\nStampede: {} of {} answered 200; {} directory lookup(s), {} tenant start(s), {} pool(s) built, {} connection(s) opened (pool size {}).",
        c.stampede_ok,
        c.stampede_requests,
        c.stampede_directory_lookups,
        c.stampede_tenants_started,
        c.stampede_pools_created,
        c.stampede_connections,
        c.pool_size
    );
}

/// Bytes per cached idle tenant, one line per tenant count.
fn memory(s: &mut String, memory: &[MemoryResult]) {
    if memory.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nMemory per cached idle tenant (no open connections):\n"
    );
    table(
        s,
        "| tenants | live heap bytes added | heap bytes per tenant | allocations per tenant | RSS added per tenant | open connections after reaping |",
        "|---:|---:|---:|---:|---:|---:|",
        memory.iter().map(|m| {
            format!(
                "| {} | {} | {:.0} | {:.1} | {:.0} | {} |",
                m.tenants,
                m.bytes_added,
                m.bytes_per_tenant,
                m.allocations_per_tenant,
                m.rss_added_bytes as f64 / m.tenants.max(1) as f64,
                m.open_connections
            )
        }),
    );
}

/// Each target, measured, and whether it was met.
fn targets(s: &mut String, targets: &[Target]) {
    if targets.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nTargets:\n");
    table(
        s,
        "| target | measured | met |",
        "|---|---|---|",
        targets.iter().map(|t| {
            let met = if t.met { "yes" } else { "**no**" };
            format!("| {} | {} | {met} |", t.name, t.measured)
        }),
    );
}

/// Writes `results.json` and `results.md` into the plan's output directory.
pub fn write(report: &Report, out: &Path) -> Result<String> {
    let md = markdown(report);
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(query: Query) -> Report {
        Report {
            date: "2026-12-01T00:00:00Z".to_string(),
            machine: Machine {
                cpu: "AMD EPYC".to_string(),
                cores: 2,
                memory_gib: 23.5,
                kernel: "6.18".to_string(),
                postgres: "PostgreSQL 15.20 (Debian) on x86_64-pc-linux-gnu".to_string(),
                loadavg_at_start: "0.10".to_string(),
            },
            command: "scripts/loadbench --smoke".to_string(),
            query,
            plan: String::new(),
            runs: Vec::new(),
            rows: Vec::new(),
            coldstart: None,
            connect_ceiling: None,
            memory: Vec::new(),
            targets: vec![Target {
                name: "B/A throughput ≥ 0.97".to_string(),
                measured: "0.900".to_string(),
                met: false,
            }],
            failures: Vec::new(),
        }
    }

    #[test]
    fn the_report_states_the_query_in_markdown_and_json() -> Result<()> {
        let report = report(Query::Sql);
        let md = markdown(&report);
        assert!(md.contains("Query: sql (`diesel::sql_query"), "{md}");
        assert!(md.contains("; PostgreSQL 15.20 (Debian)  \n"), "{md}");
        assert!(
            md.contains("| B/A throughput ≥ 0.97 | 0.900 | **no** |"),
            "{md}"
        );
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&serde_json::to_string(&report)?)?;
        assert_eq!(json.get("query").and_then(|q| q.as_str()), Some("sql"));
        Ok(())
    }
}
