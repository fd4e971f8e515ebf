//! `[budget]`: connection budgets per database server.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Connection budgets per database server.
///
/// ```
/// let b = tenantpool_core::config::BudgetSettings::default();
/// assert_eq!(b.max_connections, 80);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// Most connections open at once on one server, across all pools of the service (all its
    /// `replicas`). Default 80: below a stock PostgreSQL `max_connections` of 100, leaving
    /// room for its reserved and admin connections.
    pub max_connections: usize,
    /// Per-server caps, keyed by `scheme://host:port` (e.g. `"postgres://db1:5432" = 40`),
    /// for the whole service like `max_connections`.
    pub servers: BTreeMap<String, usize>,
    /// The processes (replicas) that serve with this configuration. The caps above are the
    /// service's: each process takes `cap / replicas` (at least 1) of each. Default 1. On its
    /// first connection to a server a process reads what the server accepts and warns when
    /// `replicas` × its share exceeds it (docs/scale-out.md).
    pub replicas: usize,
    /// While a creator waits for a permit, how often it retries stealing an idle connection
    /// from another pool. Default 20 ms.
    #[serde(with = "humantime_serde")]
    pub steal_retry: Duration,
    /// A pool that already has connections and wants another steals only connections idle
    /// for at least this long (a pool with none steals any idle connection), so that under
    /// pressure busy tenants keep their connections instead of trading them back and forth.
    /// Default 1 s.
    #[serde(with = "humantime_serde")]
    pub warm_steal_after: Duration,
    /// Most connects running at once per server (0: no limit). More only queue at the
    /// server's door while holding budget permits. Default 8.
    pub max_concurrent_connects: usize,
    /// After a connect to a server fails, further connects to it fail fast for this long,
    /// doubling per consecutive failure. Default 100 ms.
    #[serde(with = "humantime_serde")]
    pub server_backoff_initial: Duration,
    /// The longest fail-fast window after repeated connect failures. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub server_backoff_max: Duration,
}

impl BudgetSettings {
    /// One process's share of a cap for the whole service: `cap / replicas`, at least 1.
    ///
    /// ```
    /// let mut b = tenantpool_core::config::BudgetSettings::default();
    /// b.replicas = 3;
    /// assert_eq!(b.share(90), 30);
    /// assert_eq!(b.share(80), 26);
    /// ```
    pub fn share(&self, cap: usize) -> usize {
        (cap / self.replicas.max(1)).max(1)
    }
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            max_connections: 80,
            servers: BTreeMap::new(),
            replicas: 1,
            steal_retry: Duration::from_millis(20),
            warm_steal_after: Duration::from_secs(1),
            max_concurrent_connects: 8,
            server_backoff_initial: Duration::from_millis(100),
            server_backoff_max: Duration::from_secs(1),
        }
    }
}
