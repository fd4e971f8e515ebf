//! How fast this machine's PostgreSQL opens connections with no server under test running:
//! the ceiling of C2, which needs a connect for every request whose tenant holds no
//! connection.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{db_url, tenant_db, Result};

use super::{log, Plan};

/// The connect ceiling, and the bounds it puts on C2.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectCeiling {
    /// Clients connecting at once.
    pub clients: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Connect, `SELECT 1` and close, per second.
    pub per_second: f64,
    /// The least share of C's requests that must open a connection: the Zipf load outside
    /// the budget's hottest tenants (keeping one connection for each of them is the best any
    /// policy can do).
    pub min_miss_share: f64,
    /// C2's throughput if every cycle went to its connects: `per_second / min_miss_share`.
    pub c2_max_connects_only: f64,
    /// C2's throughput if each request also costs the machine what one of A's does:
    /// `1 / (1 / A + min_miss_share / per_second)` (A saturates the machine, and so do the
    /// connects).
    pub c2_max: Option<f64>,
}

/// The share of a Zipf(`s`) load over `tenants` tenants that falls outside the `hottest`.
fn zipf_mass_outside(tenants: usize, s: f64, hottest: usize) -> f64 {
    let weight = |k: usize| (k as f64).powf(-s);
    let all: f64 = (1..=tenants).map(weight).sum();
    let hot: f64 = (1..=hottest.min(tenants)).map(weight).sum();
    1.0 - hot / all.max(f64::MIN_POSITIVE)
}

/// Opens connections as fast as the server takes them (16 clients, each connecting, running
/// `SELECT 1` and closing in a loop for 5 s), with no server under test running.
pub async fn measure(plan: &Plan, a_rps: Option<f64>) -> Result<ConnectCeiling> {
    const CLIENTS: usize = 16;
    const FOR: Duration = Duration::from_secs(5);
    log(format!(
        "connect ceiling: {CLIENTS} clients connecting in a loop for {FOR:?}"
    ));
    let url = db_url(&plan.pg, &tenant_db(1), "lb_raw");
    let started = Instant::now();
    let deadline = started + FOR;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            let mut cycles = 0u64;
            while Instant::now() < deadline {
                let (client, connection) = crate::pg::open(&url).await?;
                let driver = tokio::spawn(connection);
                client.simple_query("SELECT 1").await?;
                drop(client);
                let _ = driver.await;
                cycles += 1;
            }
            Ok::<u64, crate::BoxError>(cycles)
        }));
    }
    let mut cycles = 0;
    for client in clients {
        cycles += client.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_second = cycles as f64 / seconds.max(1e-9);
    let min_miss_share = zipf_mass_outside(plan.tenants, plan.zipf_s, plan.budget);
    let c2_max_connects_only = per_second / min_miss_share.max(1e-9);
    let c2_max = a_rps.map(|a| 1.0 / (1.0 / a.max(1e-9) + min_miss_share / per_second.max(1e-9)));
    log(format!(
        "connect ceiling: {per_second:.0} connects/s; at least {:.1} % of C's requests must connect",
        min_miss_share * 100.0
    ));
    Ok(ConnectCeiling {
        clients: CLIENTS,
        seconds,
        per_second,
        min_miss_share,
        c2_max_connects_only,
        c2_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hottest_tenants_of_a_zipf_load_carry_most_of_it() {
        assert_eq!(zipf_mass_outside(10, 1.1, 10), 0.0);
        assert_eq!(zipf_mass_outside(10, 1.1, 0), 1.0);
        let outside = zipf_mass_outside(1000, 1.1, 80);
        assert!(outside > 0.1 && outside < 0.3, "{outside}");
    }
}
