//! A background worker at full size: 10,000 jobs over 200 tenants (`TENANTPOOL_JOBS` scales
//! the count), some failing and some panicking, claimed with `FOR UPDATE SKIP LOCKED` inside
//! the tenant's context, the connection released after each job. No job reads another
//! tenant's rows; the server holds no more than the budget while it runs, no more than the
//! idle pools after, and nothing once they are idle past `idle_timeout`.

use std::time::{Duration, Instant};

use diesel_async::AsyncConnection;
use tenantpool::{FanOutError, Registry, TemplateDirectory, TenantId};

use super::Dialect;
use crate::common::{registry, settings, tenant, wait_until, Fixture, TestResult, TestServer};

/// Tenants of the run.
const TENANTS: usize = 200;
/// Jobs in all, by default (`TENANTPOOL_JOBS` overrides).
const JOBS: usize = 10_000;
/// Concurrent jobs.
const WORKERS: usize = 8;
/// The budget: fewer connections than tenants, as in production.
const BUDGET: usize = 12;

/// The key of job `id`: zero-padded, so that keys sort as numbers.
fn job_key(id: i64) -> String {
    format!("{id:012}")
}

/// How a job of id `id` ends: every 50th from 7 panics, every 50th from 13 fails.
fn fate(id: i64) -> Fate {
    match id % 50 {
        7 => Fate::Panic,
        13 => Fate::Fail,
        _ => Fate::Succeed,
    }
}

#[derive(PartialEq)]
enum Fate {
    Succeed,
    Fail,
    Panic,
}

/// Creates the `job` table in every tenant (through the registry, so on its own schema or
/// database) with `per_tenant` pending jobs.
async fn seed<D: Dialect>(r: &Registry<D::Conn>, tenants: &[TenantId], per_tenant: usize) {
    let rows: Vec<String> = (1..=per_tenant as i64)
        .map(|i| format!("('{}', 0, NULL)", job_key(i)))
        .collect();
    let insert = format!(
        "INSERT INTO job (id, status, result) VALUES {}",
        rows.join(", ")
    );
    let outcomes = r
        .fan_out(tenants.to_vec(), WORKERS, |_| {
            let (r, insert) = (r.clone(), insert.clone());
            async move {
                let mut conn = r.get_current().await?;
                D::execute(
                    &mut conn,
                    "CREATE TABLE IF NOT EXISTS job \
                     (id VARCHAR(12) PRIMARY KEY, status INT NOT NULL, result VARCHAR(200))",
                )
                .await?;
                D::execute(&mut conn, "DELETE FROM job").await?;
                D::execute(&mut conn, &insert).await?;
                Ok::<_, tenantpool::BoxError>(())
            }
        })
        .await;
    for o in outcomes {
        if let Err(e) = o.result {
            panic!("seeding {}: {e}", o.tenant);
        }
    }
}

/// Why a job's transaction ended without its result.
enum JobEnd {
    /// The job failed (its transaction rolled back).
    Failed(i64),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for JobEnd {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

/// Jobs whose run panicked, recorded before the panic (a dead-letter list).
type DeadLetters = std::sync::Mutex<Vec<(TenantId, i64)>>;

/// One job of the current tenant: claims the lowest pending one nobody holds, reads the
/// tenant's own `item` owner inside the same transaction, records it as the job's result.
/// `Ok(None)` when no job is free.
async fn run_one<D: Dialect>(
    r: &Registry<D::Conn>,
    dead: &DeadLetters,
    failed_jobs: &std::sync::atomic::AtomicUsize,
) -> Result<Option<i64>, tenantpool::BoxError> {
    let mut conn = r.get_current().await?;
    let claimed = conn
        .transaction::<Option<i64>, JobEnd, _>(async |conn| {
            let ids = D::texts(
                conn,
                "SELECT id AS value FROM job WHERE status = 0 ORDER BY id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED",
            )
            .await?;
            let Some(id) = ids.first().and_then(|k| k.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let owner = D::text(conn, "SELECT owner AS value FROM item").await;
            match fate(id) {
                Fate::Panic => {
                    let tenant = tenantpool::current_tenant().expect("in context");
                    dead.lock().expect("dead letters").push((tenant, id));
                    panic!("job {id} panicked holding its row lock")
                }
                Fate::Fail => return Err(JobEnd::Failed(id)),
                Fate::Succeed => {}
            }
            let updated = D::execute(
                conn,
                &format!(
                    "UPDATE job SET status = 1, result = '{owner}' WHERE id = '{}'",
                    job_key(id)
                ),
            )
            .await?;
            assert_eq!(updated, 1, "job {id} was claimed but not updated");
            Ok(Some(id))
        })
        .await;
    match claimed {
        Ok(id) => Ok(id),
        // The job's transaction rolled back; the worker records the failure.
        Err(JobEnd::Failed(id)) => {
            let marked = D::execute(
                &mut conn,
                &format!(
                    "UPDATE job SET status = 2 WHERE id = '{}' AND status = 0",
                    job_key(id)
                ),
            )
            .await?;
            // Its tenant's other worker may have claimed it again after the rollback, and
            // recorded it first.
            assert!(marked <= 1);
            failed_jobs.fetch_add(marked, std::sync::atomic::Ordering::Relaxed);
            Err(format!("job {id} failed").into())
        }
        Err(JobEnd::Db(e)) => Err(e.into()),
    }
}

/// Marks a job whose run panicked as failed; whether it was still pending.
async fn record_panic<D: Dialect>(r: &Registry<D::Conn>, tenant: &TenantId, id: i64) -> usize {
    assert!(
        fate(id) == Fate::Panic,
        "job {id} of {tenant} is on the dead-letter list"
    );
    let mut conn = r.get(tenant).await.expect("checkout after a panic");
    let marked = D::execute(
        &mut conn,
        &format!(
            "UPDATE job SET status = 2 WHERE id = '{}' AND status = 0",
            job_key(id)
        ),
    )
    .await
    .expect("record the panic");
    // Recorded once, however often it was retried.
    assert!(marked <= 1);
    marked
}

async fn worker_run<D: Dialect>(
    t: &Fixture<D::Server>,
    r: &Registry<D::Conn>,
    tenants: &[TenantId],
    owners: &[(String, String)],
    label: &str,
) -> TestResult {
    let jobs: usize = std::env::var("TENANTPOOL_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(JOBS);
    let per_tenant = jobs.div_ceil(tenants.len());
    seed::<D>(r, tenants, per_tenant).await;

    let sampler = t.sampler(D::budget_count(BUDGET as i64)).await?;
    let started = Instant::now();
    // Runs that failed or panicked, and jobs recorded as dead after a panic.
    let (mut done, mut failed, mut panicked, mut dead_jobs) = (0usize, 0usize, 0usize, 0usize);
    let dead = DeadLetters::default();
    let failed_jobs = std::sync::atomic::AtomicUsize::new(0);
    // Each tenant twice per round, side by side, so that two workers claim from one tenant
    // at once (SKIP LOCKED hands them different jobs); rounds until no job is left.
    let doubled: Vec<TenantId> = tenants
        .iter()
        .flat_map(|t| [t.clone(), t.clone()])
        .collect();
    // Two jobs per tenant per round at most, and every round finishes at least one job of
    // each tenant with jobs left: more rounds than jobs per tenant means no progress.
    for round in 0.. {
        assert!(
            round <= per_tenant + 1,
            "round {round}: the worker makes no progress"
        );
        let outcomes = r
            .fan_out(doubled.clone(), WORKERS, |_| {
                run_one::<D>(r, &dead, &failed_jobs)
            })
            .await;
        let mut progressed = false;
        for o in outcomes {
            match o.result {
                Ok(Some(_)) => {
                    done += 1;
                    progressed = true;
                }
                Ok(None) => {}
                Err(FanOutError::Failed(e)) => {
                    assert!(e.to_string().ends_with("failed"), "{}: {e}", o.tenant);
                    failed += 1;
                    progressed = true;
                }
                Err(FanOutError::Panicked(m)) => {
                    assert!(m.contains("panicked holding its row lock"), "{m}");
                    panicked += 1;
                    progressed = true;
                }
            }
        }
        // A panicked or failed job's lock goes with its rollback, so its tenant's other
        // worker may claim it again in the same round (a retry, as in any queue): each job is
        // recorded once.
        let mut letters: Vec<(TenantId, i64)> = std::mem::take(&mut *dead.lock().expect("dead"));
        letters.sort();
        for (tenant, id) in letters {
            dead_jobs += record_panic::<D>(r, &tenant, id).await;
        }
        if !progressed {
            break;
        }
    }
    let took = started.elapsed();
    let peaks = sampler.finish().await?;
    let total = per_tenant * tenants.len();
    let failed_jobs = failed_jobs.into_inner();
    assert_eq!(
        done + failed_jobs + dead_jobs,
        total,
        "every job ended once"
    );
    let expected_failures = (1..=per_tenant as i64)
        .filter(|i| fate(*i) == Fate::Fail)
        .count();
    assert_eq!(failed_jobs, expected_failures * tenants.len());
    assert!(failed >= failed_jobs);
    let expected_panics = (1..=per_tenant as i64)
        .filter(|i| fate(*i) == Fate::Panic)
        .count();
    assert_eq!(dead_jobs, expected_panics * tenants.len());
    assert!(panicked >= dead_jobs);
    assert!(
        peaks.peak <= BUDGET as i64,
        "peak {} > budget {BUDGET}",
        peaks.peak
    );

    // From the server side: each tenant's finished jobs carry its own owner, nothing is left
    // pending, and no session is inside a transaction.
    let check = r
        .fan_out(tenants.to_vec(), WORKERS, |key| async move {
            let mut conn = r.get_current().await?;
            let own = D::text(&mut conn, "SELECT owner AS value FROM item").await;
            let foreign = D::texts(
                &mut conn,
                &format!("SELECT id AS value FROM job WHERE status = 1 AND result <> '{own}'"),
            )
            .await?
            .len();
            let pending = D::texts(&mut conn, "SELECT id AS value FROM job WHERE status = 0")
                .await?
                .len();
            Ok::<_, tenantpool::BoxError>((key, own, foreign, pending))
        })
        .await;
    for o in check {
        let (key, own, foreign, pending) = o.result.expect("check");
        let expected = &owners
            .iter()
            .find(|(k, _)| k == key.as_str())
            .expect("known tenant")
            .1;
        assert_eq!(&own, expected, "{key} reads another tenant's item");
        assert_eq!(foreign, 0, "{key}: jobs recorded another tenant's rows");
        assert_eq!(pending, 0, "{key}: jobs left pending");
    }
    let (in_transaction, waited) = wait_until(
        Duration::from_secs(3),
        || t.server.count_in_transaction(&t.tag),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(
        in_transaction?, 0,
        "sessions inside a transaction after {waited:?}"
    );

    // After the run: nothing in use, the server holds at most the idle pools, and those
    // close once idle past idle_timeout.
    let stats = r.stats();
    let in_use: usize = stats.pools.iter().map(|p| p.in_use).sum();
    let idle: usize = stats.pools.iter().map(|p| p.idle).sum();
    assert_eq!(in_use, 0);
    let after = t.count().await?;
    assert!(
        after <= idle as i64 + 1,
        "{after} sessions on the server for {idle} idle connections"
    );
    let (left, drained) = wait_until(
        Duration::from_secs(15),
        || t.count(),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(left?, 0, "idle connections still open after {drained:?}");
    eprintln!(
        "FIGURES {}jobs_{label}: tenants={} jobs={total} done={done} failed_runs={failed} failed_jobs={failed_jobs} \
         panicked_runs={panicked} dead_jobs={dead_jobs} workers={WORKERS} budget={BUDGET} peak_server_connections={} \
         took={took:?} after_run={after} (idle {idle}) idle_to_zero={drained:?}",
        D::FIGURES,
        tenants.len(),
        peaks.peak,
    );
    Ok(())
}

fn worker_settings() -> tenantpool::Settings {
    let mut s = settings(BUDGET, 2);
    s.pool.idle_timeout = Duration::from_secs(2);
    s.pool.checkout_timeout = Duration::from_secs(30);
    s.pool.tenant_max_in_use = Some(2);
    s
}

pub async fn a_worker_runs_ten_thousand_jobs_over_database_tenants_and_leaves_nothing_open<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_jobs_db", BUDGET as u32 + 3).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("t{i:03}")).collect();
    let fixture = D::database_tenants(&t, &keys).await?;
    let r = registry::<D::Conn>(
        worker_settings(),
        TemplateDirectory::database(&fixture.template).expect("template"),
    );
    let tenants: Vec<TenantId> = keys.iter().map(|k| tenant(k)).collect();
    worker_run::<D>(&t, &r, &tenants, &fixture.tenants, "db").await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn a_worker_runs_ten_thousand_jobs_over_schema_tenants_and_leaves_nothing_open<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_jobs_schema", BUDGET as u32 + 3).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..TENANTS).map(|i| format!("j{i:03}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let schemas = D::schemas(&t, "tp_jobs_schema", &key_refs).await?;
    let mut s = worker_settings();
    s.pool.max_size = WORKERS;
    s.pool.tenant_max_in_use = Some(WORKERS);
    let r = registry::<D::Conn>(s, schemas.directory());
    let tenants: Vec<TenantId> = keys.iter().map(|k| tenant(k)).collect();
    worker_run::<D>(&t, &r, &tenants, &schemas.tenants, "schema").await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
