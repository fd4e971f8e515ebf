//! The targets, each with what this run measured and whether it met it.

use serde::Serialize;

use crate::memory::MemoryResult;
use crate::variant::Variant;

use super::cold_start::ColdStart;
use super::connect_ceiling::ConnectCeiling;
use super::variant_run::{row, Row};
use super::Plan;

/// A target of the issue, and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What.
    pub name: String,
    /// Measured.
    pub measured: String,
    /// Met?
    pub met: bool,
}

/// `row`'s throughput over `base`'s, and the text that shows it.
fn throughput_ratio(row: &Row, base: &Row) -> (f64, String) {
    let ratio = row.rps / base.rps.max(1e-9);
    let text = format!("{ratio:.3} ({:.0} / {:.0} req/s)", row.rps, base.rps);
    (ratio, text)
}

/// Every target this run has the numbers for.
pub fn measure(
    plan: &Plan,
    rows: &[Row],
    cold: Option<&ColdStart>,
    ceiling: Option<&ConnectCeiling>,
    memory: &[MemoryResult],
) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |name: String, measured: String, met: bool| {
        out.push(Target {
            name,
            measured,
            met,
        })
    };
    let (a, b, c1, c2, d, e) = (
        row(rows, Variant::A),
        row(rows, Variant::B),
        row(rows, Variant::C1),
        row(rows, Variant::C2),
        row(rows, Variant::D),
        row(rows, Variant::E),
    );
    if let (Some(a), Some(b)) = (a, b) {
        let (ratio, measured) = throughput_ratio(b, a);
        add("B/A throughput ≥ 0.97".into(), measured, ratio >= 0.97);
        let ratio = b.p99_ms / a.p99_ms.max(1e-9);
        add(
            "B p99 ≤ 1.05 × A p99".into(),
            format!("{ratio:.3} ({:.2} / {:.2} ms)", b.p99_ms, a.p99_ms),
            ratio <= 1.05,
        );
    }
    let (ax, bx, c1x) = (
        row(rows, Variant::AX),
        row(rows, Variant::BX),
        row(rows, Variant::C1X),
    );
    if let (Some(ax), Some(bx)) = (ax, bx) {
        let (ratio, measured) = throughput_ratio(bx, ax);
        add(
            "axum: BX/AX throughput ≥ 0.97 (tenantpool-axum, 1 tenant, against hand-written axum + deadpool)".into(),
            measured,
            ratio >= 0.97,
        );
    }
    if let (Some(c1), Some(c1x)) = (c1, c1x) {
        let (ratio, measured) = throughput_ratio(c1x, c1);
        add(
            "axum: C1X against C1 (1,000 schema tenants, axum against actix; reported, no target)"
                .into(),
            measured,
            true,
        );
        let _ = ratio;
    }
    for c in [c1, c2, c1x].into_iter().flatten() {
        let errors = c.non2xx + c.non2xx_warmup;
        let sockets = c.socket_errors + c.socket_errors_warmup;
        add(
            format!("{}: zero non-2xx (warm-up included)", c.variant),
            format!("{errors} non-2xx, {sockets} socket errors"),
            errors == 0 && sockets == 0,
        );
        add(
            format!(
                "{}: server connections ≤ {} at every sample",
                c.variant, plan.budget
            ),
            format!(
                "max {} over {} samples ({} above)",
                c.max_conns, c.samples, c.over_budget
            ),
            c.max_conns <= plan.budget as i64 && c.over_budget == 0,
        );
    }
    if let (Some(a), Some(c1)) = (a, c1) {
        let (ratio, measured) = throughput_ratio(c1, a);
        add("C1 throughput ≥ 0.7 × A".into(), measured, ratio >= 0.7);
    }
    if let (Some(c2), Some(e)) = (c2, e) {
        let ratio = c2.ok_rps / e.ok_rps.max(1e-9);
        let bound = ceiling.map_or(String::new(), |c| {
            let best = c.c2_max.unwrap_or(c.c2_max_connects_only);
            format!(
                "; this machine's connect ceiling allows C2 at most {best:.0} req/s = {:.2} × E's 2xx",
                best / e.ok_rps.max(1e-9)
            )
        });
        add(
            "C2 throughput ≥ 2 × E's 2xx req/s".into(),
            format!(
                "{ratio:.2} ({:.0} / {:.0} 2xx req/s); C2 opened {:.0} connections/s{bound}",
                c2.ok_rps, e.ok_rps, c2.connects_per_s
            ),
            ratio >= 2.0,
        );
    }
    if let (Some(a), Some(d)) = (a, d) {
        add(
            "D far slower or failing".into(),
            format!(
                "{:.0} req/s = {:.3} × A; {} non-2xx",
                d.rps,
                d.rps / a.rps.max(1e-9),
                d.non2xx
            ),
            d.rps < 0.5 * a.rps || d.non2xx > 0,
        );
    }
    if let (Some(c2), Some(e)) = (c2, e) {
        add(
            "E failing or far slower".into(),
            format!(
                "{} non-2xx of {:.0} req/s; {:.0} 2xx req/s vs C2's {:.0}",
                e.non2xx, e.rps, e.ok_rps, c2.ok_rps
            ),
            e.non2xx > 0 || e.ok_rps < 0.5 * c2.ok_rps,
        );
    }
    if let Some(cold) = cold {
        add(
            format!(
                "{} concurrent first requests for one cold tenant: one start, ≤ pool size connections",
                cold.stampede_requests
            ),
            format!(
                "{} × 200; {} directory lookup(s), {} start(s), {} pool(s), {} connection(s) (pool size {})",
                cold.stampede_ok,
                cold.stampede_directory_lookups,
                cold.stampede_tenants_started,
                cold.stampede_pools_created,
                cold.stampede_connections,
                cold.pool_size
            ),
            cold.stampede_ok == cold.stampede_requests
                && cold.stampede_tenants_started == 1
                && cold.stampede_pools_created == 1
                && cold.stampede_connections as usize <= cold.pool_size,
        );
    }
    for m in memory {
        add(
            format!("≤ 2 KiB per cached idle tenant at {} tenants", m.tenants),
            format!("{:.0} B", m.bytes_per_tenant),
            m.bytes_per_tenant <= 2048.0,
        );
    }
    out
}
