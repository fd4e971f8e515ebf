//! What the memory binary (`tenantpool-loadbench-memory`, `src/bin/memory.rs`) measures and
//! prints on its result line for the driver.

use serde::{Deserialize, Serialize};

/// Bytes per cached idle tenant, measured at one tenant count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryResult {
    /// Tenants started and cached.
    pub tenants: usize,
    /// Live heap bytes added by them (allocator count, baseline subtracted).
    pub bytes_added: i64,
    /// `bytes_added / tenants`.
    pub bytes_per_tenant: f64,
    /// Live allocations added per tenant.
    pub allocations_per_tenant: f64,
    /// Resident set size added, bytes.
    pub rss_added_bytes: u64,
    /// Connections still open after reaping (0 expected).
    pub open_connections: usize,
    /// Tenants in the registry's cache (`tenants` plus the baseline's one).
    pub cached_tenants: u64,
    /// Pools open.
    pub pools: usize,
    /// Seconds it took to start every tenant.
    pub start_seconds: f64,
    /// Connections the registry opened.
    pub connections_created: u64,
}
