//! The cold-start experiment: what a tenant's first request costs next to a bare connect
//! and query, and what 500 concurrent first requests for one cold tenant set off (one start,
//! at most a pool's worth of connections).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

use crate::stats::RegistryCounters;
use crate::variant::Variant;
use crate::{client, db_url, fail, sampler, tenant_db, tenant_key, Result};

use super::server_process::Server;
use super::{log, median, ms, Plan};

/// The cold-start experiment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ColdStart {
    /// Samples of each sequential measurement.
    pub samples: usize,
    /// `tokio_postgres::connect` to a tenant database: median, ms.
    pub raw_connect_p50_ms: f64,
    /// Same, 99th percentile (max for 50 samples), ms.
    pub raw_connect_max_ms: f64,
    /// Raw connect plus one `SELECT 1`: median, ms.
    pub raw_connect_query_p50_ms: f64,
    /// Time to first byte of a warm tenant over a new HTTP connection: median, ms.
    pub warm_ttfb_p50_ms: f64,
    /// Time to first byte of a cold tenant (C2's server): median, ms.
    pub cold_ttfb_p50_ms: f64,
    /// Same, max, ms.
    pub cold_ttfb_max_ms: f64,
    /// Cold TTFB minus raw connect + query (medians), ms.
    pub cold_overhead_ms: f64,
    /// Concurrent first requests for one cold tenant.
    pub stampede_requests: usize,
    /// Of which answered 200.
    pub stampede_ok: usize,
    /// TTFB of the stampede: median, ms.
    pub stampede_ttfb_p50_ms: f64,
    /// Same, max, ms.
    pub stampede_ttfb_max_ms: f64,
    /// Directory lookups the stampede caused.
    pub stampede_directory_lookups: u64,
    /// Tenant starts it caused.
    pub stampede_tenants_started: u64,
    /// Pools it built.
    pub stampede_pools_created: u64,
    /// Connections it opened.
    pub stampede_connections: u64,
    /// Pool size (the most it could open).
    pub pool_size: usize,
}

/// Runs the experiment against a fresh C2 server on `port`.
pub async fn measure(plan: &Plan, port: u16) -> Result<ColdStart> {
    let samples = 50.min(plan.tenants.saturating_sub(2)).max(1);
    let cold_tenants: Vec<usize> = (plan.tenants + 1 - samples..=plan.tenants).collect();
    let stampede_tenant = (plan.tenants + 1 - samples).saturating_sub(1).max(2);
    log(format!(
        "cold start: raw connects to {samples} tenant databases, then a fresh C2 server"
    ));

    // The floor: what any cold start has to do, a connect and one query.
    let mut connect = Vec::new();
    let mut connect_query = Vec::new();
    for k in &cold_tenants {
        let url = db_url(&plan.pg, &tenant_db(*k), "lb_raw");
        // A database's first connection after it was created builds its relation cache
        // file; connect once untimed so that the raw and the cold measurement both see a
        // database that has been opened before.
        let (client, connection) = crate::pg::open(&url).await?;
        let driver = tokio::spawn(connection);
        drop(client);
        let _ = driver.await;
        let started = Instant::now();
        let (client, connection) = crate::pg::open(&url).await?;
        let connected = started.elapsed();
        let driver = tokio::spawn(connection);
        client.simple_query("SELECT 1").await?;
        connect.push(ms(connected));
        connect_query.push(ms(started.elapsed()));
        drop(client);
        let _ = driver.await;
    }

    let app = Variant::C2.app_name();
    sampler::wait_drained(&plan.pg, &app, Duration::from_secs(15)).await?;
    let log_path = plan.out.join("server-coldstart.log");
    let mut server = Server::spawn(plan, Variant::C2, port, &log_path).await?;
    let result = async {
        let host = |k: usize| format!("{}.{}", tenant_key(k), plan.domain);
        // Warm tenant t1, then measure its TTFB over new HTTP connections.
        let mut warm = Vec::new();
        for i in 0..=samples {
            let mut stream = TcpStream::connect(server.addr).await?;
            let (t, status) = client::ttfb(&mut stream, &host(1), "/").await?;
            if status != 200 {
                return fail(format!("warm tenant answered {status}"));
            }
            if i > 0 {
                warm.push(ms(t));
            }
        }
        let mut cold = Vec::new();
        for k in &cold_tenants {
            let mut stream = TcpStream::connect(server.addr).await?;
            let (t, status) = client::ttfb(&mut stream, &host(*k), "/").await?;
            if status != 200 {
                return fail(format!("cold tenant t{k} answered {status}"));
            }
            cold.push(ms(t));
        }

        // The stampede: every socket connected first, then all requests at once.
        let before = client::stats(server.addr).await?;
        let mut streams = Vec::with_capacity(plan.stampede);
        for _ in 0..plan.stampede {
            streams.push(TcpStream::connect(server.addr).await?);
        }
        let go = Arc::new(tokio::sync::Barrier::new(plan.stampede));
        let target = Arc::new(host(stampede_tenant));
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut stream| {
                let go = go.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    go.wait().await;
                    client::ttfb(&mut stream, &target, "/").await
                })
            })
            .collect();
        let mut ttfb = Vec::new();
        let mut ok = 0;
        for task in tasks {
            let (t, status) = task.await.map_err(|e| format!("stampede task: {e}"))??;
            ttfb.push(ms(t));
            if status == 200 {
                ok += 1;
            }
        }
        let after = client::stats(server.addr).await?;
        let (before, after) = (before.counters(), after.counters());
        let delta =
            |count: fn(&RegistryCounters) -> u64| count(&after).saturating_sub(count(&before));
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let raw_p50 = median(connect_query.clone());
        let cold_p50 = median(cold.clone());
        Ok(ColdStart {
            samples,
            raw_connect_p50_ms: median(connect.clone()),
            raw_connect_max_ms: max(&connect),
            raw_connect_query_p50_ms: raw_p50,
            warm_ttfb_p50_ms: median(warm),
            cold_ttfb_p50_ms: cold_p50,
            cold_ttfb_max_ms: max(&cold),
            cold_overhead_ms: cold_p50 - raw_p50,
            stampede_requests: plan.stampede,
            stampede_ok: ok,
            stampede_ttfb_p50_ms: median(ttfb.clone()),
            stampede_ttfb_max_ms: max(&ttfb),
            stampede_directory_lookups: delta(|c| c.directory_lookups),
            stampede_tenants_started: delta(|c| c.tenants_started),
            stampede_pools_created: delta(|c| c.pools_created),
            stampede_connections: delta(|c| c.connections_created),
            pool_size: plan.pool_size,
        })
    }
    .await;
    server.stop().await;
    sampler::wait_drained(&plan.pg, &app, Duration::from_secs(15)).await?;
    let cold = result?;
    log(format!("cold start: {cold:?}"));
    Ok(cold)
}
