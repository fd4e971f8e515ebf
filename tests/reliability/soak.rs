//! The leak soak: many requests over many database-per-tenant tenants, mixing successes,
//! failing queries, failing transactions, panics, client disconnects mid-query and query
//! timeouts, with the server's own connection count sampled every few milliseconds. It must
//! stay within the budget throughout, and be zero after a graceful shutdown.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tenantpool::{Registry, Settings, TemplateDirectory, TenantId};

use crate::app::{self, Pg};
use tenantpool_testkit::{Count, Error, PgServer, TestServer};

use crate::support::{self, client, get, percentiles, Rng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ok,
    Fail,
    TxFail,
    Panic,
    Disconnect,
    Timeout,
}

fn pick(rng: &mut Rng) -> Kind {
    match rng.below(100) {
        0..=71 => Kind::Ok,
        72..=79 => Kind::Fail,
        80..=85 => Kind::TxFail,
        86..=88 => Kind::Panic,
        89..=93 => Kind::Disconnect,
        _ => Kind::Timeout,
    }
}

#[actix_web::test]
async fn a_soak_of_mixed_outcomes_never_exceeds_the_budget_and_leaves_nothing_behind(
) -> Result<(), Error> {
    let _heavy = support::heavy().await;
    support::panics(); // installs the hook that keeps provoked panics quiet
    let Some(admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let tenants = support::size(40, 500);
    let requests = support::size(4_000, 100_000);
    let concurrency = 24;
    let budget = 10;
    let app_name = admin.tag("tpr_soak").await?;
    let keys: Vec<String> = (0..tenants).map(|i| format!("s{i:03}")).collect();
    let dbs: Vec<String> = keys.iter().map(|k| format!("tpr_soak_{k}")).collect();
    let created = Instant::now();
    admin.ensure_databases(&dbs).await?;
    let created = created.elapsed();

    let mut s = Settings::default();
    s.budget.max_connections = budget;
    s.pool.max_size = 2;
    s.pool.checkout_timeout = Duration::from_secs(10);
    s.pool.idle_timeout = Duration::from_secs(2);
    s.cache.time_to_idle = Duration::from_secs(3);
    s.cache.maintenance_interval = Duration::from_millis(200);
    let directory = TemplateDirectory::database(&admin.url("tpr_soak_{tenant}", &app_name))
        .expect("template")
        .allow(keys.iter().map(|k| TenantId::parse(k).expect("key")));
    let registry = Registry::<Pg>::builder(s)
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 2, Duration::from_secs(10));
    // Sessions this process holds, beside all the server lists (see `count_held`).
    let sampler = admin
        .sampler(
            &app_name,
            Count::Held {
                limit: budget as i64,
            },
        )
        .await?;

    type Tally = BTreeMap<(Kind, u16), u64>;
    let tally: Rc<RefCell<Tally>> = Rc::default();
    let latencies: Rc<RefCell<Vec<Duration>>> = Rc::default();
    let started = Instant::now();
    let per_worker = requests / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let keys = keys.clone();
            let tally = tally.clone();
            let latencies = latencies.clone();
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(60));
                let mut rng = Rng::new(0x5eed_0000 + w as u64);
                for _ in 0..per_worker {
                    // Skewed like production traffic: 70% on a hot 5% of the tenants, the
                    // rest spread evenly, so that every tenant is visited.
                    let t = if rng.below(10) < 7 {
                        rng.below(keys.len().div_ceil(20))
                    } else {
                        rng.below(keys.len())
                    };
                    let key = keys[t].as_str();
                    let kind = pick(&mut rng);
                    let status = match kind {
                        Kind::Disconnect => {
                            let req = format!(
                                "GET /sleep/100 HTTP/1.1\r\nHost: localhost\r\nX-Tenant-Id: {key}\r\n\r\n"
                            );
                            support::disconnect_after(addr, req.as_bytes(), Duration::from_millis(20))
                                .await;
                            0
                        }
                        _ => {
                            let path = match kind {
                                Kind::Ok => "/q",
                                Kind::Fail => "/fail",
                                Kind::TxFail => "/txfail",
                                Kind::Panic => "/panic",
                                _ => "/timeout/20",
                            };
                            let a = get(&http, addr, path, ("X-Tenant-Id", key)).await;
                            let expected = match kind {
                                Kind::Ok => a.status == 200 && a.body == format!("tpr_soak_{key}"),
                                Kind::Fail | Kind::TxFail => {
                                    a.status == 500
                                        && a.body.contains("could not complete the request")
                                        && !a.body.contains("tpr_no_such_table")
                                }
                                // A panicking handler: a 500, or the connection closed.
                                Kind::Panic => a.status == 500 || a.status == 0,
                                _ => a.status == 503 && a.retry_after.is_some(),
                            };
                            assert!(expected, "{kind:?} for {key}: {a:?}");
                            latencies.borrow_mut().push(a.took);
                            a.status
                        }
                    };
                    *tally.borrow_mut().entry((kind, status)).or_default() += 1;
                }
            })
        })
        .collect();
    // The first failed worker fails the test at once (the others are dropped with the
    // runtime), instead of after every other worker has finished its share.
    futures_util::future::try_join_all(workers)
        .await
        .expect("a client worker failed");
    let took = started.elapsed();

    // Everything went back: no connection is checked out once the last handler (the
    // disconnected ones run on) has finished.
    let settle = Instant::now();
    while registry.stats().pools.iter().any(|p| p.in_use > 0) {
        assert!(
            settle.elapsed() < Duration::from_secs(15),
            "connections still checked out: {:?}",
            registry.stats().pools
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = registry.stats();
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    let (zero, drained_in) = admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    let seen = sampler.finish().await?;
    let (peak, peak_listed, samples) = (seen.peak, seen.wider_peak, seen.samples);

    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    assert_eq!(
        zero, 0,
        "connections left on the server after the graceful shutdown"
    );
    assert!(samples > 50, "the sampler took only {samples} samples");
    assert!(peak > 0, "the sampler never saw a connection");
    eprintln!(
        "FIGURES soak budget: peak_server_connections_held={peak} peak_listed={peak_listed} budget={budget}"
    );
    assert!(
        peak <= budget as i64,
        "{peak} server-side connections held by this process, budget {budget}"
    );
    // A PostgreSQL connection's permit comes back only once the server has closed its end,
    // after the backend left `pg_stat_activity`: the server never lists more than the budget.
    assert!(
        peak_listed <= budget as i64,
        "{peak_listed} sessions of this process listed by the server, budget {budget}"
    );
    let c = &stats.counters;
    let (p50, p99, max) = percentiles(latencies.take());
    let sent: u64 = tally.borrow().values().sum();
    eprintln!(
        "FIGURES soak: requests={sent} tenants={tenants} budget={budget} took={took:?} \
         rps={:.0} peak_server_connections={peak} samples={samples} \
         zero_after_shutdown_in={drained_in:?} databases_ready_in={created:?}",
        sent as f64 / took.as_secs_f64()
    );
    eprintln!("FIGURES soak outcomes: {:?}", tally.borrow());
    eprintln!(
        "FIGURES soak counters: checkouts={} created={} closed={} discarded_dirty={} \
         discarded_broken={} handed_off={} steals={} evicted={} pools_created={} \
         latency_ms p50={p50:.1} p99={p99:.1} max={max:.1}",
        c.checkouts,
        c.connections_created,
        c.connections_closed,
        c.discarded_dirty,
        c.discarded_broken,
        c.handed_off,
        c.budget_steals,
        c.tenants_evicted,
        c.pools_created
    );
    Ok(())
}
