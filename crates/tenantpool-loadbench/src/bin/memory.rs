//! Bytes per cached idle tenant.
//!
//! A counting global allocator tracks live heap bytes. Every tenant points at one shared
//! PostgreSQL target (database isolation), so that starting a tenant costs a checkout from a
//! warm pool instead of a connect. After `--tenants N` tenants have started, idle connections
//! are reaped (`idle_timeout` of 1 ms, then a maintenance pass), so that what is left is the
//! cost of the cached tenants alone: (live bytes after) - (live bytes with one tenant started
//! and reaped), divided by N.
//!
//! ```text
//! tenantpool-loadbench-memory --tenants 100000 [--pg postgres://postgres@127.0.0.1:5432]
//! ```
//! Prints one `LOADBENCH_JSON {...}` line, a `tenantpool_loadbench::memory::MemoryResult`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use futures_util::stream::{self, StreamExt};
use tenantpool::directory::async_trait;
use tenantpool::{
    DatabaseUrl, DirectoryError, Registry, Settings, TenantDirectory, TenantId, TenantTarget,
};
use tenantpool_loadbench::args::Args;
use tenantpool_loadbench::memory::MemoryResult;
use tenantpool_loadbench::result_line;
use tenantpool_loadbench::{db_url, fail, Result};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_ALLOCATIONS.load(Ordering::Relaxed),
    )
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Every tenant lives in the same database: starting one costs no connect.
struct SharedTarget(TenantTarget);

#[async_trait]
impl TenantDirectory for SharedTarget {
    async fn lookup(
        &self,
        _tenant: &TenantId,
    ) -> std::result::Result<Option<TenantTarget>, DirectoryError> {
        Ok(Some(self.0.clone()))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenantpool-loadbench-memory: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    let tenants: usize = args.get("tenants", 10_000)?;
    let pg = args.get("pg", "postgres://postgres@127.0.0.1:5432".to_string())?;
    let concurrency: usize = args.get("concurrency", 32)?;
    if tenants == 0 {
        return fail("--tenants must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(&pg, tenants, concurrency))
}

async fn measure(pg: &str, tenants: usize, concurrency: usize) -> Result<()> {
    let mut settings = Settings::default();
    settings.cache.max_tenants = (tenants as u64 + 1) * 2;
    settings.cache.time_to_idle = Duration::from_secs(3600);
    // The maintenance pass runs when this program says so, not in the background.
    settings.cache.maintenance_interval = Duration::from_secs(3600);
    settings.pool.idle_timeout = Duration::from_millis(1);
    settings.pool.max_size = 4;
    // This directory cannot list its tenants; starting them all as fast as possible is the
    // point here, so lift the admission limit on unlisted starts.
    settings.backoff.unlisted_starts_per_second = u32::MAX;
    let url = DatabaseUrl::parse(&db_url(pg, "postgres", "lb_memory"))?;
    let registry = Registry::<AsyncPgConnection>::builder(settings)
        .directory(SharedTarget(TenantTarget::database(url)))
        .build()?;
    let key = |i: usize| TenantId::parse(&format!("m{i}"));

    // The baseline: the registry, its I/O runtime, one pool and one tenant, connections reaped.
    drop(registry.get(&key(0)?).await?);
    let reap = || async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        registry.run_maintenance();
        registry.run_maintenance();
    };
    reap().await;
    let (bytes0, allocs0) = live();
    let rss0 = rss_bytes();

    let started = Instant::now();
    let keys = (1..=tenants)
        .map(key)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut checkouts = stream::iter(keys.iter())
        .map(|k| registry.get(k))
        .buffer_unordered(concurrency);
    while let Some(conn) = checkouts.next().await {
        drop(conn?);
    }
    drop(checkouts);
    let start_secs = started.elapsed().as_secs_f64();
    // The registry holds its own clones of the keys (the key strings are shared `Arc`s, so
    // they stay counted); the benchmark's vector of them is not the registry's.
    drop(keys);
    reap().await;
    let (bytes1, allocs1) = live();
    let rss1 = rss_bytes();

    let stats = registry.stats();
    let open: usize = stats.pools.iter().map(|p| p.size).sum();
    if stats.cached_tenants != tenants as u64 + 1 {
        return fail(format!(
            "{} tenants cached, expected {}",
            stats.cached_tenants,
            tenants + 1
        ));
    }
    let added = bytes1 - bytes0;
    result_line::print(&MemoryResult {
        tenants,
        bytes_added: added as i64,
        bytes_per_tenant: added as f64 / tenants as f64,
        allocations_per_tenant: (allocs1 - allocs0) as f64 / tenants as f64,
        rss_added_bytes: rss1.saturating_sub(rss0),
        open_connections: open,
        cached_tenants: stats.cached_tenants,
        pools: stats.pools.len(),
        start_seconds: start_secs,
        connections_created: stats.counters.connections_created,
    })?;
    registry.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
