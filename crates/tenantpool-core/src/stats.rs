//! Stats: a serialisable snapshot of pools, budgets, event counters and the busiest tenants.
//!
//! Counters are plain relaxed atomics bumped where the event happens (a connection's `Drop`
//! counts its close), so they cost nothing worth measuring on the hot path. The snapshot is
//! what the web adapter's admin route serves; URLs in it are masked. The per-tenant figures
//! ([`TenantStats`], [`TopTenants`]) are the `pressure` module's.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

pub use crate::pressure::{TenantStats, TopTenants};
use crate::{BackendKind, DatabaseUrl, ServerKey};

/// Declares the event counters once: the atomics the registry bumps ([`Counters`]) and the
/// public snapshot with the same fields ([`CounterStats`]).
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Event counters, shared by a registry, its pools and its budgets.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> CounterStats {
                CounterStats {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
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
            $($(#[doc = $doc])* pub $name: u64,)*
        }
    };
}

counters! {
    /// Successful checkouts.
    checkouts,
    /// Checkouts that gave up after the checkout timeout.
    checkout_timeouts,
    /// Connections opened.
    connections_created,
    /// Connections closed, for any reason.
    connections_closed,
    /// Connects that failed.
    connect_failures,
    /// Connections closed at return because they were dirty (open transaction, broken
    /// transaction manager, dropped during a panic, or marked by the user).
    discarded_dirty,
    /// Connections found lost by the registry's own statement (a schema switch or check)
    /// before they were handed over; the checkout went on with another connection.
    lost_before_handover,
    /// Idle connections found broken at checkout (closed socket, failed ping).
    discarded_broken,
    /// Connections closed at return so that a waiting creator on the same server could open
    /// one.
    handed_off,
    /// Idle connections closed after the idle timeout.
    reaped_idle,
    /// Connections closed after their max lifetime.
    reaped_lifetime,
    /// Pools built.
    pools_created,
    /// Pools closed.
    pools_closed,
    /// Tenants started (cold starts that succeeded).
    tenants_started,
    /// Cold starts that failed.
    tenants_failed,
    /// Tenants evicted from the cache (idle, capacity or explicit).
    tenants_evicted,
    /// Idle connections of other pools closed to make room in a full budget.
    budget_steals,
    /// `SET search_path` / `USE` statements issued.
    schema_switches,
    /// Connections of a shared pool handed straight to a checkout waiting for the schema they
    /// were already on (no switch needed).
    affinity_handoffs,
    /// Lookups that reached the tenant directory.
    directory_lookups,
    /// List calls that reached the tenant directory.
    directory_lists,
    /// Requests for keys not on the directory's list, answered "unknown" without a lookup.
    unknown_rejected,
    /// Cold starts refused by the rate limit for directories that cannot list.
    throttled,
    /// Checkouts held longer than `pool.leak_warning_after` (each counted, and warned about,
    /// once).
    held_too_long,
    /// Connections opened by readiness checks to servers that had accepted none within
    /// `readiness.recent` (each closed again at once).
    readiness_probes,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
    /// The busiest cached tenants: the top `stats.top_tenants` by connections in use and by
    /// time spent waiting.
    pub tenants: TopTenants,
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
    /// The connections the whole service may open on the server: `budget.replicas` × this
    /// process's `limit`.
    pub service_total: usize,
    /// The connections the server accepts from clients like this one (PostgreSQL:
    /// `max_connections` less its reserved slots; MySQL: `max_connections`), read on the
    /// first connection; `None` before that, and for SQLite. Above `service_total` is safe;
    /// below, the registry has warned (see `budget.replicas`).
    pub server_accepts: Option<u64>,
}
