//! Database faults under load: a PostgreSQL restart (on a private cluster) and the
//! termination of every backend of the application (on the shared server, by the app's own
//! `application_name`), while an in-process client keeps requests flowing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tenantpool::{Registry, Settings, TemplateDirectory, TenantId};

use crate::app::{self, Pg};
use crate::cluster::Cluster;
use tenantpool_testkit::{Error, PgServer, TestServer};

use crate::support::{self, client, get, percentiles, Answer};

fn settings(budget: usize) -> Settings {
    let mut s = Settings::default();
    s.budget.max_connections = budget;
    s.pool.max_size = 2;
    s.pool.connect_timeout = Duration::from_secs(2);
    s.pool.checkout_timeout = Duration::from_secs(3);
    s.cache.maintenance_interval = Duration::from_millis(100);
    s.runtime.io_threads = 2;
    s
}

fn tenant_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

type Log = Rc<RefCell<Vec<(String, Answer)>>>;

/// Spawns `workers` client loops sending `GET /q` round the tenants until `stop` is set;
/// every answer goes into the log.
fn load(
    addr: std::net::SocketAddr,
    keys: &[String],
    workers: usize,
    pause: Duration,
    stop: Rc<std::cell::Cell<bool>>,
    log: Log,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let keys = keys.to_vec();
            let stop = stop.clone();
            let log = log.clone();
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(30));
                let mut i = w;
                while !stop.get() {
                    let key = &keys[i % keys.len()];
                    i += 1;
                    let answer = get(&http, addr, "/q", ("X-Tenant-Id", key)).await;
                    log.borrow_mut().push((key.clone(), answer));
                    actix_web::rt::time::sleep(pause).await;
                }
            })
        })
        .collect()
}

/// Every answer is a 2xx, or a 503 with `Retry-After`; never a 500, never a dropped
/// connection. Returns the number of 503s.
fn assert_only_ok_or_503(log: &[(String, Answer)], what: &str) -> usize {
    let mut unavailable = 0;
    for (key, a) in log {
        match a.status {
            200..=299 => {}
            503 => {
                assert!(
                    a.retry_after.is_some(),
                    "{what}: a 503 for {key} without Retry-After: {}",
                    a.body
                );
                assert!(
                    a.body.contains("\"error\"") && a.body.contains("\"tenant\""),
                    "{what}: a 503 body that is not the JSON error body: {}",
                    a.body
                );
                unavailable += 1;
            }
            other => panic!(
                "{what}: {key} got {other} ({:?}) after {:?}: {}",
                a.error, a.took, a.body
            ),
        }
    }
    unavailable
}

#[actix_web::test]
async fn a_restart_of_postgresql_under_load_gives_503s_then_every_tenant_recovers_within_2s(
) -> Result<(), Error> {
    let _heavy = support::heavy().await;
    let cluster = match Cluster::start("restart") {
        Ok(c) => c,
        Err(e) => {
            tenantpool_testkit::unavailable(
                "a private PostgreSQL cluster (initdb, pg_ctl, runuser)",
                &e,
            );
            return Ok(());
        }
    };
    let keys = tenant_keys(6);
    let dbs: Vec<String> = keys.iter().map(|k| format!("tpr_restart_{k}")).collect();
    cluster.create_databases(&dbs).await?;
    let app_name = "tpr_restart";
    let directory = TemplateDirectory::database(&format!(
        "{}/tpr_restart_{{tenant}}?application_name={app_name}",
        cluster.base_url()
    ))
    .expect("template")
    .allow(keys.iter().map(|k| TenantId::parse(k).expect("key")));
    let registry = Registry::<Pg>::builder(settings(12))
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 2, Duration::from_secs(5));
    let panics_before = support::panics();

    let stop = Rc::new(std::cell::Cell::new(false));
    let log: Log = Rc::default();
    let workers = load(
        addr,
        &keys,
        8,
        Duration::from_millis(5),
        stop.clone(),
        log.clone(),
    );

    // Warm: every tenant answers.
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    let warm = log.borrow().len();
    assert!(
        log.borrow().iter().all(|(_, a)| a.status == 200),
        "before the restart every request succeeds: {:?}",
        log.borrow().iter().find(|(_, a)| a.status != 200)
    );

    // The outage: a fast shutdown (sessions terminated mid-query), a second of darkness,
    // then the server comes back.
    let down_at = Instant::now();
    cluster.stop();
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    let up_at = cluster.start_again();
    let outage = up_at - down_at;

    // Per tenant: the time from "the server accepts connections" to the first 2xx of a
    // request sent after that moment.
    let probes = keys.iter().map(|key| {
        let key = key.clone();
        async move {
            let http = client(Duration::from_secs(30));
            loop {
                let a = get(&http, addr, "/q", ("X-Tenant-Id", &key)).await;
                if a.status == 200 {
                    return (key, up_at.elapsed(), a);
                }
                assert!(
                    a.status == 503,
                    "{key} got {} while recovering: {}",
                    a.status,
                    a.body
                );
                if up_at.elapsed() > Duration::from_secs(10) {
                    return (key, up_at.elapsed(), a);
                }
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let recovered = futures_util::future::join_all(probes).await;
    let all_back = Instant::now();
    // Keep the load on a little longer: everything after recovery succeeds.
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    stop.set(true);
    for w in workers {
        let _ = w.await;
    }

    let log = log.take();
    let unavailable = assert_only_ok_or_503(&log, "restart");
    let after: Vec<_> = log.iter().filter(|(_, a)| a.sent >= all_back).collect();
    assert!(!after.is_empty(), "no request was sent after the recovery");
    for (key, a) in &after {
        assert_eq!(
            a.status, 200,
            "{key} after every tenant recovered: {}",
            a.body
        );
    }
    assert!(
        unavailable > 0,
        "no request saw the outage; the test proves nothing ({} requests)",
        log.len()
    );
    assert_eq!(support::panics(), panics_before, "a handler panicked");
    let mut figures = Vec::new();
    for (key, took, last) in &recovered {
        assert_eq!(last.status, 200, "{key} never recovered: {}", last.body);
        assert!(
            *took <= Duration::from_secs(2),
            "{key} took {took:?} to recover after the server was back (limit 2 s)"
        );
        figures.push(format!("{key}={}ms", took.as_millis()));
    }
    let stats = registry.stats();
    let c = &stats.counters;
    eprintln!(
        "FIGURES restart: requests={} warm={warm} answered_503={unavailable} outage={outage:?} \
         recovery_per_tenant=[{}] connections_created={} discarded_broken={} discarded_dirty={} connect_failures={}",
        log.len(),
        figures.join(" "),
        c.connections_created,
        c.discarded_broken,
        c.discarded_dirty,
        c.connect_failures
    );
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    drop(cluster);
    Ok(())
}

#[actix_web::test]
async fn terminating_every_backend_mid_load_discards_the_dead_connections_and_requests_go_on(
) -> Result<(), Error> {
    let _heavy = support::heavy().await;
    let Some(admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let app_name = admin.tag("tpr_term").await?;
    let keys = tenant_keys(4);
    let dbs: Vec<String> = keys.iter().map(|k| format!("tpr_term_{k}")).collect();
    admin.ensure_databases(&dbs).await?;
    let directory = TemplateDirectory::database(&admin.url("tpr_term_{tenant}", &app_name))
        .expect("template")
        .allow(keys.iter().map(|k| TenantId::parse(k).expect("key")));
    let budget = 8;
    let registry = Registry::<Pg>::builder(settings(budget))
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 2, Duration::from_secs(5));
    let panics_before = support::panics();
    let stop = Rc::new(std::cell::Cell::new(false));
    let log: Log = Rc::default();
    let workers = load(
        addr,
        &keys,
        8,
        Duration::from_millis(2),
        stop.clone(),
        log.clone(),
    );
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let before = registry.stats().counters;

    // Three rounds of "kill them all", 300 ms apart.
    let mut killed = 0;
    let mut last_kill = Instant::now();
    for _ in 0..3 {
        killed += admin.terminate(&app_name).await?;
        last_kill = Instant::now();
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    stop.set(true);
    for w in workers {
        let _ = w.await;
    }

    let log = log.take();
    let unavailable = assert_only_ok_or_503(&log, "terminate");
    // Requests sent well after the last kill all succeed: nobody keeps getting a dead
    // connection.
    let settle = last_kill + Duration::from_millis(300);
    let late: Vec<_> = log.iter().filter(|(_, a)| a.sent >= settle).collect();
    assert!(
        late.len() > 20,
        "too few requests after the kills: {}",
        late.len()
    );
    for (key, a) in &late {
        assert_eq!(a.status, 200, "{key} after the kills: {}", a.body);
    }
    let latencies: Vec<Duration> = log.iter().map(|(_, a)| a.took).collect();
    let (p50, p99, max) = percentiles(latencies);
    assert!(
        max < 3000.0,
        "a request took {max} ms: something looped on or waited for a dead connection"
    );
    let after = registry.stats();
    let c = &after.counters;
    let discarded = (c.discarded_broken - before.discarded_broken)
        + (c.discarded_dirty - before.discarded_dirty);
    assert!(
        killed > 0,
        "no backend was terminated; the test proves nothing"
    );
    assert!(
        discarded > 0,
        "{killed} backends were killed and no connection was discarded"
    );
    assert!(
        c.connections_created > before.connections_created,
        "dead connections were not replaced"
    );
    assert_eq!(support::panics(), panics_before, "a handler panicked");
    for b in &after.budgets {
        assert!(b.open <= b.limit, "{b:?}");
    }
    eprintln!(
        "FIGURES terminate: requests={} killed={killed} answered_503={unavailable} \
         discarded={discarded} (broken={} dirty={}) replaced={} latency_ms p50={p50:.1} p99={p99:.1} max={max:.1}",
        log.len(),
        c.discarded_broken - before.discarded_broken,
        c.discarded_dirty - before.discarded_dirty,
        c.connections_created - before.connections_created,
    );
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    let (left, _) = admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    assert_eq!(left, 0, "connections left on the server after shutdown");
    Ok(())
}
