//! The figures published at scrape time: counters copied from the registry's atomics,
//! gauges from its snapshot, and the per-tenant gauges with bounded labels.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, Label, Unit,
};

use super::names::*;
use crate::stats::{Stats, TenantStats};
use crate::TenantId;

/// The last value published for the closes of no named reason: the remainder of the total
/// less the named reasons, read from relaxed atomics that are bumped at slightly different
/// moments, so it is clamped never to go down (a counter that goes down reads as a reset).
#[derive(Debug, Default)]
pub(crate) struct ClosedFloor(AtomicU64);

/// Publishes `stats` (and the per-tenant figures of every cached tenant, `tenants`) as the
/// registry `registry`.
pub(crate) fn publish(
    registry: &str,
    stats: &Stats,
    tenants: impl Iterator<Item = TenantStats>,
    closed_floor: &ClosedFloor,
) {
    describe();
    let base = Base([
        Label::new("registry", registry.to_owned()),
        Label::new("backend", stats.backend.to_string()),
    ]);
    let with = |extra: &[(&'static str, String)]| base.with(extra);
    publish_counters(stats, &base, closed_floor);
    gauge!(CACHED_TENANTS, with(&[])).set(stats.cached_tenants as f64);
    for b in &stats.budgets {
        let server = [("server", b.server.as_str().to_owned())];
        gauge!(SERVER_CONNECTIONS_OPEN, with(&server)).set(b.open as f64);
        gauge!(SERVER_CONNECTIONS_BUDGET, with(&server)).set(b.limit as f64);
        gauge!(SERVER_SERVICE_TOTAL, with(&server)).set(b.service_total as f64);
        if let Some(accepts) = b.server_accepts {
            gauge!(SERVER_ACCEPTS, with(&server)).set(accepts as f64);
        }
        gauge!(SERVER_CREATORS_WAITING, with(&server)).set(b.waiting as f64);
        let pools = stats.pools.iter().filter(|p| p.server == b.server);
        let (mut n, mut idle, mut in_use, mut waiting) = (0usize, 0usize, 0usize, 0usize);
        for p in pools {
            n += 1;
            idle += p.idle;
            in_use += p.in_use;
            waiting += p.waiting;
        }
        gauge!(POOLS, with(&server)).set(n as f64);
        gauge!(CONNECTIONS_IDLE, with(&server)).set(idle as f64);
        gauge!(CONNECTIONS_IN_USE, with(&server)).set(in_use as f64);
        gauge!(CHECKOUTS_WAITING, with(&server)).set(waiting as f64);
    }
    publish_tenants(stats, tenants, &base);
}

/// The labels every series of a registry carries.
struct Base([Label; 2]);

impl Base {
    /// The base labels and `extra`.
    fn with(&self, extra: &[(&'static str, String)]) -> Vec<Label> {
        let mut labels = self.0.to_vec();
        labels.extend(extra.iter().map(|(k, v)| Label::new(*k, v.clone())));
        labels
    }
}

fn publish_counters(stats: &Stats, base: &Base, closed_floor: &ClosedFloor) {
    let with = |extra: &[(&'static str, String)]| base.with(extra);
    let c = &stats.counters;
    let plain = [
        (CHECKOUTS, c.checkouts),
        (CHECKOUT_TIMEOUTS, c.checkout_timeouts),
        (CONNECTIONS_OPENED, c.connections_created),
        (CONNECT_FAILURES, c.connect_failures),
        (TENANT_EVICTIONS, c.tenants_evicted),
        (UNKNOWN_TENANT_REJECTIONS, c.unknown_rejected),
        (DIRECTORY_LOOKUPS, c.directory_lookups),
        (SCHEMA_SWITCHES, c.schema_switches),
        (HELD_TOO_LONG, c.held_too_long),
    ];
    for (name, value) in plain {
        counter!(name, with(&[])).absolute(value);
    }
    let starts = [
        ("started", c.tenants_started),
        ("failed", c.tenants_failed),
        ("throttled", c.throttled),
    ];
    for (outcome, value) in starts {
        counter!(TENANT_STARTS, with(&[("outcome", outcome.into())])).absolute(value);
    }
    let named = [
        ("idle", c.reaped_idle),
        ("lifetime", c.reaped_lifetime),
        ("dirty", c.discarded_dirty),
        ("broken", c.discarded_broken),
        ("stolen", c.budget_steals),
        ("handed_off", c.handed_off),
    ];
    let named_sum: u64 = named.iter().map(|(_, v)| v).sum();
    let rest = c.connections_closed.saturating_sub(named_sum);
    let pool_closed = closed_floor.0.fetch_max(rest, Ordering::Relaxed).max(rest);
    for (reason, value) in named.into_iter().chain([("pool_closed", pool_closed)]) {
        counter!(CONNECTIONS_CLOSED, with(&[("reason", reason.into())])).absolute(value);
    }
}

/// One series of per-tenant figures.
#[derive(Default)]
struct TenantFigures {
    in_use: usize,
    waiting: usize,
    waits: u64,
    wait_seconds: f64,
    timeouts: u64,
}

impl TenantFigures {
    fn add(&mut self, t: &TenantStats) {
        self.in_use += t.in_use;
        self.waiting += t.waiting;
        self.waits += t.waits;
        self.wait_seconds += t.wait_time.as_secs_f64();
        self.timeouts += t.timeouts;
    }

    fn publish(&self, labels: Vec<Label>) {
        gauge!(TENANT_IN_USE, labels.clone()).set(self.in_use as f64);
        gauge!(TENANT_WAITING, labels.clone()).set(self.waiting as f64);
        gauge!(TENANT_WAITS, labels.clone()).set(self.waits as f64);
        gauge!(TENANT_WAIT_SECONDS, labels.clone()).set(self.wait_seconds);
        gauge!(TENANT_TIMEOUTS, labels).set(self.timeouts as f64);
    }
}

/// The top K tenants by in use and by wait (`stats.tenants`) under their own `tenant`
/// label, every other cached tenant summed under `tenant="_other"`: at most 2K + 1 series
/// per metric.
fn publish_tenants(stats: &Stats, tenants: impl Iterator<Item = TenantStats>, base: &Base) {
    let with = |extra: &[(&'static str, String)]| base.with(extra);
    let top = &stats.tenants;
    let mut named: HashSet<&TenantId> = HashSet::new();
    for t in top.by_in_use.iter().chain(&top.by_wait) {
        if named.insert(&t.tenant) {
            let mut mine = TenantFigures::default();
            mine.add(t);
            mine.publish(with(&[("tenant", t.tenant.to_string())]));
        }
    }
    let mut other = TenantFigures::default();
    for t in tenants.filter(|t| !named.contains(&t.tenant)) {
        other.add(&t);
    }
    other.publish(with(&[("tenant", OTHER_TENANTS.into())]));
}

/// The HELP and unit of every metric (the recorder keeps the last description given).
fn describe() {
    let counters = [
        (CHECKOUTS, "Checkouts served."),
        (
            CHECKOUT_TIMEOUTS,
            "Checkouts that gave up after pool.checkout_timeout.",
        ),
        (CONNECTIONS_OPENED, "Connections opened."),
        (CONNECT_FAILURES, "Connects that failed."),
        (CONNECTIONS_CLOSED, "Connections closed, by reason."),
        (
            TENANT_STARTS,
            "Tenant starts, by outcome (started, failed, throttled).",
        ),
        (TENANT_EVICTIONS, "Tenants evicted from the cache."),
        (
            UNKNOWN_TENANT_REJECTIONS,
            "Requests for tenants the directory does not list.",
        ),
        (
            DIRECTORY_LOOKUPS,
            "Lookups that reached the tenant directory.",
        ),
        (SCHEMA_SWITCHES, "Schema switches (schema mode)."),
        (
            HELD_TOO_LONG,
            "Checkouts held longer than pool.leak_warning_after.",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, Unit::Count, help);
    }
    let gauges = [
        (
            SERVER_CONNECTIONS_OPEN,
            "Connections open or connecting on the server.",
        ),
        (
            SERVER_CONNECTIONS_BUDGET,
            "This process's connection budget on the server.",
        ),
        (
            SERVER_SERVICE_TOTAL,
            "The service's connection budget on the server: budget.replicas x this process's.",
        ),
        (
            SERVER_ACCEPTS,
            "Connections the server accepts from clients like this one (max_connections less reserved slots).",
        ),
        (
            SERVER_CREATORS_WAITING,
            "Connects waiting for a budget permit.",
        ),
        (
            CONNECTIONS_IDLE,
            "Idle connections of the registry's pools on the server.",
        ),
        (
            CONNECTIONS_IN_USE,
            "Checked-out connections of the registry's pools on the server.",
        ),
        (
            CHECKOUTS_WAITING,
            "Checkouts waiting in the registry's pools on the server.",
        ),
        (POOLS, "Open pools on the server."),
        (CACHED_TENANTS, "Tenants in the cache."),
        (
            TENANT_IN_USE,
            "Connections the tenant holds (top K, else _other).",
        ),
        (
            TENANT_WAITING,
            "The tenant's checkouts waiting now (top K, else _other).",
        ),
        (
            TENANT_WAITS,
            "The tenant's checkouts that waited since it started (top K, else _other).",
        ),
        (
            TENANT_TIMEOUTS,
            "The tenant's checkouts that timed out since it started (top K, else _other).",
        ),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, help);
    }
    describe_gauge!(
        TENANT_WAIT_SECONDS,
        Unit::Seconds,
        "Time the tenant's checkouts waited since it started (top K, else _other)."
    );
    let histograms = [
        (
            CHECKOUT_WAIT,
            "Time a checkout waited for a connection (0 when served at once).",
        ),
        (
            CONNECT_TIME,
            "Time a successful connect took (budget wait excluded).",
        ),
        (HELD_TIME, "Time a connection was checked out."),
        (TENANT_START_TIME, "Time a tenant start took, by outcome."),
    ];
    for (name, help) in histograms {
        describe_histogram!(name, Unit::Seconds, help);
    }
}
