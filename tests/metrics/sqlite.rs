//! 10,000 SQLite tenants (a file each): the number of series a scrape shows stays under a
//! bound computed from K and the metric names, whatever the number of tenants.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tenantpool::SqliteConnection;

use crate::common::{registry, settings, tenant};
use crate::{admin, recorder, scrape, serial, sqlite_template};

const TENANTS: usize = 10_000;
/// Tenants holding a connection during the scrape: more than K.
const HOLDING: usize = 30;
/// `stats.top_tenants`, the default.
const K: usize = 20;

/// Series of a registry that do not name a tenant: 9 plain counters, 3 start outcomes,
/// 7 close reasons, the cached tenants, and 10 gauges per server (the server's accepted
/// connections only where it has a limit).
fn fixed_series(servers: usize) -> usize {
    9 + 3 + 7 + 1 + 10 * servers
}

/// Per-tenant metrics, each with at most 2K + 1 series (top K by in use, top K by wait,
/// `_other`).
const PER_TENANT_METRICS: usize = 5;

#[actix_rt::test]
async fn ten_thousand_tenants_keep_the_series_under_the_bound() {
    let _serial = serial().await;
    recorder();
    // Every tenant starts and is served once; the first HOLDING keep their connection.
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("t{i:05}")).collect();
    let (dir, directory) = sqlite_template("many", &keys);
    let mut s = settings(64, 1);
    s.cache.time_to_idle = Duration::from_secs(600);
    s.stats.top_tenants = K;
    let r = registry::<SqliteConnection>(s, directory);
    let admin = admin("sq_many", r.clone());

    let held: Vec<_> = stream::iter(&keys)
        .map(|key| {
            let r = r.clone();
            async move {
                let conn = r.get(&tenant(key)).await.expect("checkout");
                (key.as_str() < "t00030").then_some(conn)
            }
        })
        .buffered(8)
        .filter_map(|held| async move { held })
        .collect()
        .await;
    assert_eq!(held.len(), HOLDING);

    let text = scrape(&admin).await;
    let reg = ("registry", "sq_many");
    assert_eq!(
        text.value("tenantpool_checkouts_total", &[reg]),
        TENANTS as f64
    );
    assert_eq!(
        text.value(
            "tenantpool_tenant_starts_total",
            &[reg, ("outcome", "started")]
        ),
        TENANTS as f64
    );
    let series = text.series_with(reg);
    let servers = 1; // every SQLite file is on the server `sqlite://local`
    let bound = fixed_series(servers) + PER_TENANT_METRICS * (2 * K + 1);
    assert!(
        series.len() <= bound,
        "{} series for {TENANTS} tenants, bound {bound}",
        series.len()
    );
    // The tenant label names at most 2K tenants and `_other`; the connections in use add up.
    let in_use = text.samples("tenantpool_tenant_connections_in_use", &[reg]);
    assert!(in_use.len() <= 2 * K + 1, "{} tenant series", in_use.len());
    assert_eq!(in_use.iter().sum::<f64>(), HOLDING as f64);
    let named = text.samples(
        "tenantpool_tenant_connections_in_use",
        &[reg, ("tenant", "t00000")],
    );
    assert_eq!(
        named,
        [1.0],
        "the busiest tenants by key have a series of their own"
    );
    let other = text.value(
        "tenantpool_tenant_connections_in_use",
        &[reg, ("tenant", "_other")],
    );
    assert!(
        other >= (HOLDING - K) as f64 && other <= HOLDING as f64,
        "_other {other}"
    );
    assert_eq!(
        text.value(
            "tenantpool_connections_in_use",
            &[reg, ("server", "sqlite://local")]
        ),
        HOLDING as f64
    );

    drop(held);
    assert!(r.shutdown(Duration::from_secs(5)).await.clean);
    std::fs::remove_dir_all(&dir).expect("remove the test's data directory");
}
