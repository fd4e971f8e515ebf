//! The budget of all SQLite files is one: `sqlite://local`. However many tenants are busy,
//! no more than the budget's connections are open at any sampled instant.

use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use tenantpool::TemplateDirectory;

use crate::common::PeakSampler;
use crate::{data_dir, open_db_fds, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_sqlite_tenants_share_the_local_budget_and_never_hold_more_than_it() {
    const TENANTS: usize = 40;
    const BUDGET: usize = 4;
    const ROUNDS: usize = 5;
    let dir = data_dir("budget");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let mut s = settings(BUDGET, 2);
    s.pool.checkout_timeout = Duration::from_secs(30);
    s.pool.idle_timeout = Duration::from_secs(600);
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(
        s,
        TemplateDirectory::database(&template)
            .expect("template")
            .allow((0..TENANTS).map(|i| tenant(&format!("b{i:02}"))))
            .creating_missing(),
    );

    let open = {
        let registry = registry.clone();
        PeakSampler::start(move || {
            let stats = registry.stats();
            let open = stats.budgets.iter().map(|b| b.open).sum::<usize>();
            let pooled = stats.pools.iter().map(|p| p.size).sum::<usize>();
            async move { open.max(pooled) as i64 }
        })
        .await
        .expect("sampler")
    };
    let fds = {
        let dir = dir.clone();
        PeakSampler::start(move || {
            let dir = dir.clone();
            async move { open_db_fds(&dir).unwrap_or(-1) }
        })
        .await
        .expect("sampler")
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..TENANTS {
        let registry = registry.clone();
        let key = format!("b{i:02}");
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let mut conn = registry
                    .get(&tenant(&key))
                    .await
                    .unwrap_or_else(|e| panic!("{key}: {e}"));
                conn.batch_execute("CREATE TABLE IF NOT EXISTS item (owner TEXT NOT NULL)")
                    .await
                    .expect("schema");
                diesel::sql_query("INSERT INTO item (owner) VALUES (?)")
                    .bind::<Text, _>(&key)
                    .execute(&mut *conn)
                    .await
                    .expect("insert");
                let rows = text(
                    &mut conn,
                    "SELECT CAST(count(*) AS TEXT) AS value FROM item",
                )
                .await;
                assert_eq!(
                    rows,
                    (round + 1).to_string(),
                    "{key}: rows of another tenant?"
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("tenant task");
    }
    let busy = started.elapsed();
    let seen = open.finish().await.expect("sampler");
    let (peak, samples) = (seen.peak, seen.samples);
    let peak_fds = fds.finish().await.expect("sampler").peak;
    let stats = registry.stats();

    assert_eq!(
        stats.budgets.len(),
        1,
        "every SQLite file shares one budget"
    );
    assert_eq!(stats.budgets[0].server.as_str(), "sqlite://local");
    assert_eq!(stats.budgets[0].limit, BUDGET);
    assert!(samples > 10, "the sampler took only {samples} samples");
    assert!(peak > 0, "the sampler never saw a connection");
    assert!(
        peak <= BUDGET as i64,
        "peak {peak} open connections > budget {BUDGET}"
    );
    assert!(stats.budgets[0].open <= BUDGET);
    let c = &stats.counters;
    assert_eq!(c.checkout_timeouts, 0);
    assert_eq!(c.tenants_started, TENANTS as u64);
    assert!(
        c.connections_created - c.connections_closed <= BUDGET as u64,
        "{} created, {} closed: more than the budget open",
        c.connections_created,
        c.connections_closed
    );
    assert!(
        c.budget_steals + c.handed_off > 0,
        "{TENANTS} tenants fit in a budget of {BUDGET} without a steal or a hand-off?"
    );
    eprintln!(
        "FIGURES sqlite_budget: tenants={TENANTS} budget={BUDGET} peak_open={peak} \
         peak_open_fds={peak_fds} samples={samples} busy={busy:?} connections_created={} \
         steals={} handed_off={}",
        c.connections_created, c.budget_steals, c.handed_off
    );
}
