//! Dirty connections over HTTP: schema tenants sharing one pool, requests interleaved at
//! random, and some requests that leave their connection in a state worth checking (a query
//! timed out mid-flight, a panic inside a transaction). Every answer must be the asking
//! tenant's own `search_path` and its own row.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tenantpool::{Registry, Settings, TemplateDirectory};

use crate::app::{self, Pg};
use tenantpool_testkit::{Error, PgServer, TestServer};

use crate::support::{self, client, get, percentiles, Rng};

#[actix_web::test]
async fn interleaved_schema_tenants_never_see_another_tenants_search_path_or_rows(
) -> Result<(), Error> {
    let _heavy = support::heavy().await;
    support::panics(); // installs the hook that keeps provoked panics quiet
    let Some(admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let tenants = support::size(40, 200);
    let requests = support::size(6_000, 100_000);
    let concurrency = 32;
    let app_name = admin.tag("tpr_schema").await?;
    let keys: Vec<String> = (0..tenants).map(|i| format!("sch{i:03}")).collect();

    // One database with a schema per tenant, each holding one row that names its owner.
    let db = admin
        .throwaway_database(&format!("tpr_schema_http_{tenants}"))
        .await?;
    let mut sql = String::new();
    for k in &keys {
        sql.push_str(&format!(
            "CREATE SCHEMA \"{k}\"; CREATE TABLE \"{k}\".item (id int, owner text); \
             INSERT INTO \"{k}\".item VALUES (1, '{k}');"
        ));
    }
    admin.run_sql_in(db.name(), &sql).await?;

    let mut s = Settings::default();
    s.budget.max_connections = 6;
    s.pool.max_size = 6;
    s.pool.tenant_max_in_use = Some(3);
    s.pool.checkout_timeout = Duration::from_secs(10);
    s.cache.maintenance_interval = Duration::from_millis(200);
    let directory =
        TemplateDirectory::schema(&admin.url(db.name(), &app_name), "{tenant}").expect("template");
    let registry = Registry::<Pg>::builder(s)
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 2, Duration::from_secs(10));

    let checked = Rc::new(RefCell::new(0u64));
    let dirtying: Rc<RefCell<BTreeMap<&'static str, u64>>> = Rc::default();
    let latencies: Rc<RefCell<Vec<Duration>>> = Rc::default();
    let started = Instant::now();
    let per_worker = requests / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let keys = keys.clone();
            let checked = checked.clone();
            let dirtying = dirtying.clone();
            let latencies = latencies.clone();
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(60));
                let mut rng = Rng::new(0xd1e7_0000 + w as u64);
                for i in 0..per_worker {
                    let key = keys[rng.below(keys.len())].as_str();
                    match rng.below(100) {
                        // Leave a statement running on the connection, dropped mid-flight.
                        0..=3 => {
                            let a = get(&http, addr, "/timeout/5", ("X-Tenant-Id", key)).await;
                            assert!(a.status == 503 || a.status == 200, "{a:?}");
                            *dirtying.borrow_mut().entry("timeout").or_default() += 1;
                        }
                        // Panic inside a transaction.
                        4 => {
                            let a = get(&http, addr, "/panic", ("X-Tenant-Id", key)).await;
                            assert!(a.status == 500 || a.status == 0, "{a:?}");
                            *dirtying.borrow_mut().entry("panic").or_default() += 1;
                        }
                        // A failed transaction.
                        5..=7 => {
                            let a = get(&http, addr, "/txfail", ("X-Tenant-Id", key)).await;
                            assert_eq!(a.status, 500, "{a:?}");
                            *dirtying.borrow_mut().entry("txfail").or_default() += 1;
                        }
                        _ => {
                            let a = get(&http, addr, "/schema", ("X-Tenant-Id", key)).await;
                            assert_eq!(
                                (a.status, a.body.as_str()),
                                (200, format!("{key}|{key}").as_str()),
                                "request {i} of worker {w} for {key}: {a:?}"
                            );
                            latencies.borrow_mut().push(a.took);
                            *checked.borrow_mut() += 1;
                        }
                    }
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
    let stats = registry.stats();
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    let (left, _) = admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    assert_eq!(left, 0, "connections left after shutdown");
    let checked = *checked.borrow();
    assert!(
        checked as usize > requests * 8 / 10,
        "only {checked} checked answers"
    );
    assert_eq!(stats.pools.len(), 1, "schema tenants share one pool");
    let c = &stats.counters;
    let (p50, p99, max) = percentiles(latencies.take());
    eprintln!(
        "FIGURES schema_http: requests={} checked_answers={checked} tenants={tenants} took={took:?} \
         schema_switches={} discarded_dirty={} dirtying={:?} latency_ms p50={p50:.1} p99={p99:.1} max={max:.1}",
        per_worker * concurrency,
        c.schema_switches,
        c.discarded_dirty,
        dirtying.borrow()
    );
    db.remove().await
}

/// A statement dropped mid-flight (a handler's timeout) while the server's budget is full:
/// the next request must not wait for the abandoned statement's clean-up. Found by the
/// interleaved run above, which then saw checkouts stall for seconds and time out; this is
/// the smallest reproduction.
#[actix_web::test]
async fn a_statement_dropped_while_the_budget_is_full_does_not_stall_the_next_request(
) -> Result<(), Error> {
    let _heavy = support::heavy().await;
    let Some(admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let app_name = admin.tag("tpr_abandon").await?;
    let db = admin.throwaway_database("tpr_abandon").await?;
    let mut s = Settings::default();
    s.budget.max_connections = 2;
    s.pool.max_size = 2;
    s.pool.checkout_timeout = Duration::from_secs(10);
    let directory = tenantpool::StaticDirectory::new().with(
        tenantpool::TenantId::parse("a").expect("key"),
        tenantpool::TenantTarget::database(
            tenantpool::DatabaseUrl::parse(&admin.url(db.name(), &app_name)).expect("url"),
        ),
    );
    let registry = Registry::<Pg>::builder(s)
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 1, Duration::from_secs(10));
    let http = client(Duration::from_secs(30));
    assert_eq!(
        get(&http, addr, "/q", ("X-Tenant-Id", "a")).await.status,
        200
    );
    // One connection busy for 3 s: the budget of 2 has one permit left.
    let busy = actix_web::rt::spawn(async move {
        get(
            &client(Duration::from_secs(30)),
            addr,
            "/sleep/3000",
            ("X-Tenant-Id", "a"),
        )
        .await
    });
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    // The other connection runs `pg_sleep(1)`, dropped after 50 ms: abandoned mid-statement.
    let dropped = get(&http, addr, "/timeout/50", ("X-Tenant-Id", "a")).await;
    assert_eq!(dropped.status, 503, "{dropped:?}");
    // The next request needs a connection: the abandoned one must be gone and its permit
    // free long before the busy request ends.
    let next = get(&http, addr, "/q", ("X-Tenant-Id", "a")).await;
    let busy = busy.await.expect("busy request");
    let c = registry.stats().counters;
    eprintln!(
        "FIGURES abandon_full_budget: next_request_took={:?} (status {}) busy_request_took={:?} discarded_dirty={}",
        next.took, next.status, busy.took, c.discarded_dirty
    );
    assert_eq!(next.status, 200, "{next:?}");
    assert!(
        next.took < Duration::from_millis(1500),
        "the next request waited {:?} for the abandoned statement's clean-up (the busy request ended after {:?})",
        next.took,
        busy.took
    );
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    let (left, _) = admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    assert_eq!(left, 0);
    Ok(())
}
