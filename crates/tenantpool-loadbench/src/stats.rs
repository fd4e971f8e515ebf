//! What `GET /_lb/stats` answers: one shape for every variant, serialised by the servers and
//! read back by the driver.
//!
//! The tenantpool variants embed their registry's stats. tenantpool's [`tenantpool::Stats`]
//! can only be serialised, so [`ServerStats`] takes the registry part as a type parameter:
//! the server sends `ServerStats<tenantpool::Stats>`, the driver reads
//! `ServerStats<RegistryStats>`, which keeps the cached tenants and the counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::variant::Variant;

/// A server's answer to `GET /_lb/stats`.
///
/// ```
/// use tenantpool_loadbench::stats::ServerStats;
/// use tenantpool_loadbench::variant::Variant;
/// let stats: ServerStats = serde_json::from_str(r#"{"variant":"D","connects":7}"#)?;
/// assert_eq!((stats.variant, stats.connects), (Variant::D, 7));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerStats<R = RegistryStats> {
    /// The server's variant.
    pub variant: Variant,
    /// Connections the server has opened (attempts, for the hand-written variants).
    pub connects: u64,
    /// Errors by message (A, D and E; tenantpool counts its own in `registry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorCounts>,
    /// A's pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolStatus>,
    /// E's pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naive: Option<NaivePools>,
    /// The registry of B, C1 and C2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<R>,
}

impl ServerStats {
    /// The registry's counters; all zero for the hand-written variants.
    pub fn counters(&self) -> RegistryCounters {
        self.registry
            .as_ref()
            .map(|r| r.counters.clone())
            .unwrap_or_default()
    }

    /// The errors the server saw: messages for the hand-written variants, the registry's
    /// nonzero failure counters for tenantpool. Empty when there were none.
    pub fn error_summary(&self) -> BTreeMap<String, u64> {
        match (&self.errors, &self.registry) {
            (Some(errors), _) => errors.by_message.clone(),
            (None, Some(registry)) => registry.counters.failures(),
            (None, None) => BTreeMap::new(),
        }
    }
}

/// Errors a hand-written server saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// All errors.
    pub total: u64,
    /// How often each message (cut to 160 bytes) occurred.
    pub by_message: BTreeMap<String, u64>,
}

/// A deadpool pool's status (A).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PoolStatus {
    /// Open connections.
    pub size: usize,
    /// Open and idle.
    pub available: usize,
    /// The most it may hold.
    pub max_size: usize,
}

/// E's map of pools.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct NaivePools {
    /// Pools built (one per tenant seen).
    pub pools: usize,
    /// Open connections over all of them.
    pub open: usize,
}

/// The part of [`tenantpool::Stats`] the driver reads back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryStats {
    /// Tenants in the cache.
    pub cached_tenants: u64,
    /// Event counters since the registry started.
    pub counters: RegistryCounters,
    /// Per-server budgets.
    #[serde(default)]
    pub budgets: Vec<RegistryBudget>,
}

/// The part of [`tenantpool::stats::BudgetStats`] the driver reads back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryBudget {
    /// This process's cap.
    pub limit: usize,
    /// What the server accepts, once read.
    pub server_accepts: Option<u64>,
}

/// [`tenantpool::stats::CounterStats`]: the counters the driver computes with by name, every other
/// counter kept by name for `results.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryCounters {
    /// Connections opened.
    pub connections_created: u64,
    /// Connects that failed.
    pub connect_failures: u64,
    /// Checkouts that gave up after the checkout timeout.
    pub checkout_timeouts: u64,
    /// Cold starts that succeeded.
    pub tenants_started: u64,
    /// Cold starts that failed.
    pub tenants_failed: u64,
    /// Connections closed at return because they were dirty.
    pub discarded_dirty: u64,
    /// Idle connections found broken at checkout.
    pub discarded_broken: u64,
    /// Pools built.
    pub pools_created: u64,
    /// Lookups that reached the tenant directory.
    pub directory_lookups: u64,
    /// The other counters (hand-offs, budget steals, schema switches, ...), by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, u64>,
}

impl RegistryCounters {
    /// The failure counters that are not zero, by name.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        [
            ("checkout_timeouts", self.checkout_timeouts),
            ("connect_failures", self.connect_failures),
            ("tenants_failed", self.tenants_failed),
            ("discarded_dirty", self.discarded_dirty),
            ("discarded_broken", self.discarded_broken),
        ]
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| (name.to_string(), count))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use diesel_async::AsyncPgConnection;
    use tenantpool::{Registry, Settings, StaticDirectory};

    use super::*;

    #[test]
    fn the_driver_reads_what_a_tenantpool_server_sends() -> crate::Result<()> {
        let registry = Registry::<AsyncPgConnection>::builder(Settings::default())
            .directory(StaticDirectory::new())
            .build()?;
        let sent = ServerStats {
            variant: Variant::C2,
            connects: 3,
            errors: None,
            pool: None,
            naive: None,
            registry: Some(registry.stats()),
        };
        let read: ServerStats = serde_json::from_str(&serde_json::to_string(&sent)?)?;
        assert_eq!(read.variant, Variant::C2);
        let counters = read.counters();
        assert_eq!(counters.connections_created, 0);
        assert!(counters.other.contains_key("budget_steals"));
        assert!(counters.other.contains_key("schema_switches"));
        assert!(!counters.other.contains_key("connections_created"));
        assert!(read.error_summary().is_empty());
        Ok(())
    }

    #[test]
    fn a_hand_written_server_reports_its_errors_by_message() -> crate::Result<()> {
        let body = r#"{"variant":"E","connects":9,"naive":{"pools":2,"open":4},
            "errors":{"total":3,"by_message":{"timed out":3}}}"#;
        let stats: ServerStats = serde_json::from_str(body)?;
        assert_eq!(stats.counters().connections_created, 0);
        assert_eq!(stats.error_summary().get("timed out"), Some(&3));
        Ok(())
    }

    #[test]
    fn only_nonzero_failure_counters_are_errors() {
        let counters = RegistryCounters {
            connect_failures: 2,
            connections_created: 40,
            ..RegistryCounters::default()
        };
        let failures = counters.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures.get("connect_failures"), Some(&2));
    }
}
