//! The snapshot's per-tenant lists with more tenants than `stats.top_tenants`: at most K
//! each, the busiest first, equal figures by tenant key, idle tenants left out.

use std::time::Duration;

use tenantpool::{StaticDirectory, TenantTarget};

use crate::common::TestResult;
use crate::{data_dir, file_url, hold, registry, settings, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_top_lists_hold_at_most_k_tenants_busiest_first_ties_by_key() -> TestResult {
    let dir = data_dir("pressure_top_k");
    // Twelve tenants; tenant i holds i % 4 connections (0, 1, 2 or 3).
    let keys: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
    let mut directory = StaticDirectory::new();
    for key in &keys {
        let url = tenantpool::DatabaseUrl::parse(&file_url(&dir, key)).expect("url");
        directory.insert(tenant(key), TenantTarget::database(url).creating_missing());
    }
    let mut s = settings(64, 4);
    s.stats.top_tenants = 5;
    let r = registry(s, directory);
    let mut held = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        // Started by one checkout, returned: cached, with nothing in use.
        drop(r.get(&tenant(key)).await.expect("start"));
        held.push(hold(&r, key, i % 4).await);
    }

    let top = r.stats().tenants;
    let by_in_use: Vec<(&str, usize)> = top
        .by_in_use
        .iter()
        .map(|t| (t.tenant.as_str(), t.in_use))
        .collect();
    // Three tenants hold 3 (k03, k07, k11), three hold 2 (k02, k06, k10): the first five.
    assert_eq!(
        by_in_use,
        [("k03", 3), ("k07", 3), ("k11", 3), ("k02", 2), ("k06", 2)]
    );
    // Every tenant holding two or more opened connections during its checkouts (six tenants
    // waited): five of them, longest first.
    assert_eq!(top.by_wait.len(), 5, "{:#?}", top.by_wait);
    assert!(top
        .by_wait
        .windows(2)
        .all(|w| w[0].wait_time >= w[1].wait_time));
    assert!(top.by_wait.iter().all(|t| t.waits >= 1 && t.timeouts == 0));
    // A larger K than there are tenants lists each busy one once; K = 0 lists none.
    assert_eq!(r.top_tenants(100).by_in_use.len(), 9);
    let none = r.top_tenants(0);
    assert!(none.by_in_use.is_empty() && none.by_wait.is_empty());
    // Every tenant's own figures agree with what it holds.
    for (i, key) in keys.iter().enumerate() {
        let t = r.tenant_stats(&tenant(key)).expect("cached");
        assert_eq!(t.in_use, i % 4, "{key}");
    }

    drop(held);
    assert!(r.stats().tenants.by_in_use.is_empty());
    let report = r.shutdown(Duration::from_secs(5)).await;
    assert!(report.clean);
    Ok(())
}
