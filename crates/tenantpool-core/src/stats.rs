//! Stats: a serialisable snapshot of pools, budgets and event counters.
//!
//! Counters are plain relaxed atomics bumped where the event happens (a connection's `Drop`
//! counts its close), so they cost nothing worth measuring on the hot path. The snapshot is
//! what the web adapter's admin route serves; URLs in it are masked.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::{BackendKind, DatabaseUrl, ServerKey};

/// Event counters, shared by a registry, its pools and its budgets.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) checkouts: AtomicU64,
    pub(crate) checkout_timeouts: AtomicU64,
    pub(crate) connections_created: AtomicU64,
    pub(crate) connections_closed: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) discarded_dirty: AtomicU64,
    pub(crate) discarded_broken: AtomicU64,
    pub(crate) handed_off: AtomicU64,
    pub(crate) reaped_idle: AtomicU64,
    pub(crate) reaped_lifetime: AtomicU64,
    pub(crate) pools_created: AtomicU64,
    pub(crate) pools_closed: AtomicU64,
    pub(crate) tenants_started: AtomicU64,
    pub(crate) tenants_failed: AtomicU64,
    pub(crate) tenants_evicted: AtomicU64,
    pub(crate) budget_steals: AtomicU64,
    pub(crate) schema_switches: AtomicU64,
    pub(crate) affinity_handoffs: AtomicU64,
    pub(crate) directory_lookups: AtomicU64,
    pub(crate) directory_lists: AtomicU64,
    pub(crate) unknown_rejected: AtomicU64,
    pub(crate) throttled: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterStats {
            checkouts: get(&self.checkouts),
            checkout_timeouts: get(&self.checkout_timeouts),
            connections_created: get(&self.connections_created),
            connections_closed: get(&self.connections_closed),
            connect_failures: get(&self.connect_failures),
            discarded_dirty: get(&self.discarded_dirty),
            discarded_broken: get(&self.discarded_broken),
            handed_off: get(&self.handed_off),
            reaped_idle: get(&self.reaped_idle),
            reaped_lifetime: get(&self.reaped_lifetime),
            pools_created: get(&self.pools_created),
            pools_closed: get(&self.pools_closed),
            tenants_started: get(&self.tenants_started),
            tenants_failed: get(&self.tenants_failed),
            tenants_evicted: get(&self.tenants_evicted),
            budget_steals: get(&self.budget_steals),
            schema_switches: get(&self.schema_switches),
            affinity_handoffs: get(&self.affinity_handoffs),
            directory_lookups: get(&self.directory_lookups),
            directory_lists: get(&self.directory_lists),
            unknown_rejected: get(&self.unknown_rejected),
            throttled: get(&self.throttled),
        }
    }
}

/// A point-in-time view of a registry.
///
/// ```no_run
/// # async fn show(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) {
/// let stats = registry.stats();
/// println!("{}", serde_json::to_string_pretty(&stats).unwrap());
/// for budget in &stats.budgets {
///     assert!(budget.open <= budget.limit);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Backend of the registry.
    pub backend: BackendKind,
    /// Tenants in the cache right now.
    pub cached_tenants: u64,
    /// One entry per open pool.
    pub pools: Vec<PoolStats>,
    /// One entry per database server.
    pub budgets: Vec<BudgetStats>,
    /// Event counters since the registry started.
    pub counters: CounterStats,
}

/// One pool.
///
/// ```
/// # fn f(p: &tenantpool_core::stats::PoolStats) {
/// assert_eq!(p.size, p.idle + p.in_use);
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's database, password masked.
    pub target: DatabaseUrl,
    /// The server (budget) it draws from.
    pub server: ServerKey,
    /// Whether several tenants share it (schema mode).
    pub shared: bool,
    /// Cached tenants that use it.
    pub tenants: usize,
    /// Open connections.
    pub size: usize,
    /// Open and idle.
    pub idle: usize,
    /// Checked out.
    pub in_use: usize,
    /// Checkouts waiting for a connection.
    pub waiting: usize,
    /// Most connections it may hold.
    pub max_size: usize,
}

/// One server's connection budget.
///
/// ```
/// # fn f(b: &tenantpool_core::stats::BudgetStats) {
/// assert!(b.open <= b.limit);
/// # }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BudgetStats {
    /// The server.
    pub server: ServerKey,
    /// The cap.
    pub limit: usize,
    /// Connections open or connecting.
    pub open: usize,
    /// Creators waiting for a permit.
    pub waiting: usize,
}

/// Event counters.
///
/// ```
/// # fn f(c: &tenantpool_core::stats::CounterStats) {
/// assert!(c.connections_closed <= c.connections_created);
/// # }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CounterStats {
    /// Successful checkouts.
    pub checkouts: u64,
    /// Checkouts that gave up after the checkout timeout.
    pub checkout_timeouts: u64,
    /// Connections opened.
    pub connections_created: u64,
    /// Connections closed, for any reason.
    pub connections_closed: u64,
    /// Connects that failed.
    pub connect_failures: u64,
    /// Connections closed at return because they were dirty (open transaction, broken
    /// transaction manager, dropped during a panic, or marked by the user).
    pub discarded_dirty: u64,
    /// Idle connections found broken at checkout (closed socket, failed ping).
    pub discarded_broken: u64,
    /// Connections closed at return so that a waiting creator on the same server could open
    /// one.
    pub handed_off: u64,
    /// Idle connections closed after the idle timeout.
    pub reaped_idle: u64,
    /// Connections closed after their max lifetime.
    pub reaped_lifetime: u64,
    /// Pools built.
    pub pools_created: u64,
    /// Pools closed.
    pub pools_closed: u64,
    /// Tenants started (cold starts that succeeded).
    pub tenants_started: u64,
    /// Cold starts that failed.
    pub tenants_failed: u64,
    /// Tenants evicted from the cache (idle, capacity or explicit).
    pub tenants_evicted: u64,
    /// Idle connections of other pools closed to make room in a full budget.
    pub budget_steals: u64,
    /// `SET search_path` / `USE` statements issued.
    pub schema_switches: u64,
    /// Connections of a shared pool handed straight to a checkout waiting for the schema they
    /// were already on (no switch needed).
    pub affinity_handoffs: u64,
    /// Lookups that reached the tenant directory.
    pub directory_lookups: u64,
    /// List calls that reached the tenant directory.
    pub directory_lists: u64,
    /// Requests for keys not on the directory's list, answered "unknown" without a lookup.
    pub unknown_rejected: u64,
    /// Cold starts refused by the rate limit for directories that cannot list.
    pub throttled: u64,
}
