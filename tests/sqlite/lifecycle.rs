//! Pool lifetimes on SQLite: a stampede on a cold tenant builds one pool, and idle tenants
//! are evicted and their pools (and files) closed without further traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use tenantpool::TemplateDirectory;

use crate::common::{wait_until, PeakSampler};
use crate::{data_dir, file, open_db_fds, open_fds, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_on_a_cold_tenant_builds_one_pool_and_at_most_max_size_connections() {
    const MAX: usize = 4;
    const REQUESTS: usize = 500;
    let dir = data_dir("stampede");
    let db = file(&dir, "cold");
    std::fs::File::create(&db).expect("an empty database file");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let registry = registry(
        settings(MAX * 2, MAX),
        TemplateDirectory::database(&template).expect("template"),
    );
    let fds = {
        let db = db.clone();
        PeakSampler::start(move || {
            let db = db.clone();
            async move { open_fds(&db).unwrap_or(-1) }
        })
        .await
        .expect("sampler")
    };
    let gate = Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let mut tasks = Vec::new();
    for _ in 0..REQUESTS {
        let registry = registry.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let mut conn = registry.get(&tenant("cold")).await.expect("checkout");
            text(&mut conn, "SELECT 'x' AS value").await;
        }));
    }
    for t in tasks {
        t.await.expect("request");
    }
    let peak_fds = fds.finish().await.expect("sampler").peak;
    let stats = registry.stats();
    let c = &stats.counters;
    assert_eq!(c.pools_created, 1, "pools built");
    assert_eq!(c.tenants_started, 1, "tenant starts");
    assert_eq!(c.directory_lookups, 1, "directory lookups");
    assert_eq!(c.checkouts, REQUESTS as u64, "checkouts");
    assert!(
        c.connections_created <= MAX as u64,
        "{} connections opened",
        c.connections_created
    );
    assert_eq!(stats.pools.len(), 1);
    assert!(stats.pools[0].size <= MAX);
    assert!(stats.budgets[0].open <= MAX);
    if peak_fds >= 0 {
        assert!(
            peak_fds <= MAX as i64,
            "peak {peak_fds} open descriptors on the file > max_size {MAX}"
        );
    } else {
        eprintln!("note: /proc/self/fd is not readable; open files were not counted");
    }
    eprintln!(
        "FIGURES sqlite_stampede: requests={REQUESTS} pools_created={} connections_created={} \
         peak_open_fds={peak_fds}",
        c.pools_created, c.connections_created
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tenants_are_evicted_after_their_time_to_idle_and_their_pools_close() {
    const TENANTS: usize = 6;
    let dir = data_dir("eviction");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let mut s = settings(20, 2);
    s.cache.time_to_idle = Duration::from_secs(1);
    s.pool.idle_timeout = Duration::from_secs(600); // closing must come from the eviction
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("idle{i}")).collect();
    let registry = registry(
        s,
        TemplateDirectory::database(&template)
            .expect("template")
            .allow(keys.iter().map(|k| tenant(k)))
            .creating_missing(),
    );
    for key in &keys {
        let mut held = crate::hold(&registry, key, 2).await;
        held[0]
            .batch_execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY)")
            .await
            .expect("write");
        text(&mut held[1], "SELECT 'x' AS value").await;
    }
    let stats = registry.stats();
    assert_eq!(stats.pools.len(), TENANTS);
    for key in &keys {
        assert!(registry.is_cached(&tenant(key)), "{key} is not cached");
    }
    assert_eq!(stats.budgets[0].open, 2 * TENANTS);
    if let Some(n) = open_db_fds(&dir) {
        assert_eq!(
            n,
            2 * TENANTS as i64,
            "open descriptors on the tenants' files"
        );
    }

    // No further traffic: the maintenance task alone must evict and close everything.
    let idle_since = Instant::now();
    let (after, took) = wait_until(
        Duration::from_secs(10),
        || async { registry.stats() },
        |s| s.pools.is_empty() && s.cached_tenants == 0 && s.budgets[0].open == 0,
    )
    .await;
    assert_eq!(
        after.cached_tenants, 0,
        "tenants still cached after their time-to-idle"
    );
    assert!(
        after.pools.is_empty(),
        "pools still open: {:?}",
        after.pools
    );
    assert_eq!(after.budgets[0].open, 0, "budget permits still held");
    assert_eq!(after.counters.pools_closed, TENANTS as u64);
    assert!(after.counters.tenants_evicted >= TENANTS as u64);
    assert_eq!(
        after.counters.connections_closed,
        after.counters.connections_created
    );
    if let Some(n) = open_db_fds(&dir) {
        assert_eq!(n, 0, "database files still open after the pools closed");
    }
    eprintln!(
        "FIGURES sqlite_eviction: tenants={TENANTS} tti=1s idle_to_zero={took:?} \
         (measured from {idle_since:?})"
    );

    // An evicted tenant starts again on demand.
    let mut c = registry.get(&tenant("idle0")).await.expect("restart");
    assert_eq!(text(&mut c, "SELECT 'back' AS value").await, "back");
    assert_eq!(
        registry.stats().counters.tenants_started,
        TENANTS as u64 + 1
    );
}
