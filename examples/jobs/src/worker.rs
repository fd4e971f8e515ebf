//! The worker: rounds of one job per tenant, each in its tenant's context, one checkout per
//! job.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use diesel_async::AsyncConnection;
use futures_util::FutureExt;
use tenantpool::{BoxError, FanOutError, Registry, TenantId, TenantInit};

use crate::store::{Job, JobStore};

/// What one round did.
///
/// ```
/// let r = tenantpool_jobs::Round::default();
/// assert_eq!(r.ran(), 0);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Jobs that ended `done`.
    pub done: usize,
    /// Jobs that ended `failed` (an error or a panic inside the job).
    pub failed: usize,
    /// Tenants that had no pending job.
    pub idle: usize,
    /// Tenants whose round could not run (no connection, no table): tried again next round.
    pub errors: usize,
}

impl Round {
    /// Jobs this round ran to an end.
    ///
    /// ```
    /// let r = tenantpool_jobs::Round { done: 2, failed: 1, ..Default::default() };
    /// assert_eq!(r.ran(), 3);
    /// ```
    pub fn ran(&self) -> usize {
        self.done + self.failed
    }
}

/// How one job ended.
enum Ended {
    Done,
    Failed,
}

/// Why a claim's transaction rolled back.
enum Rollback {
    /// The job failed or panicked: roll back its work, then record the failure.
    Job(i64, String),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Rollback {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

/// The worker's start hook: creates the tenant's `job` table, then runs `then` (the notes
/// example's migrations, so that a tenant the notes server has not served yet has its
/// `notes` table too).
///
/// ```
/// let _hook = tenantpool_jobs::CreateJobTable::then(tenantpool_notes::SqliteMigrations);
/// ```
#[derive(Debug, Clone)]
pub struct CreateJobTable<M> {
    then: std::sync::Arc<M>,
}

impl<M> CreateJobTable<M> {
    /// Creates the `job` table, then runs `then` on the same connection.
    ///
    /// ```
    /// let _hook = tenantpool_jobs::CreateJobTable::then(tenantpool_notes::ServerMigrations);
    /// ```
    pub fn then(then: M) -> Self {
        Self {
            then: std::sync::Arc::new(then),
        }
    }
}

impl<C: JobStore, M: TenantInit<C>> TenantInit<C> for CreateJobTable<M> {
    fn init(
        &self,
        tenant: TenantId,
        mut conn: tenantpool::PooledConnection<C>,
    ) -> futures_util::future::BoxFuture<'static, Result<(), BoxError>> {
        let then = self.then.clone();
        Box::pin(async move {
            C::create_table(&mut conn).await?;
            tracing::debug!(%tenant, "job table ready");
            then.init(tenant, conn).await
        })
    }
}

/// A worker over a registry's tenants.
///
/// ```no_run
/// # async fn f(registry: tenantpool::Registry<diesel_async::AsyncPgConnection>) -> Result<(), tenantpool::Error> {
/// let worker = tenantpool_jobs::Worker::new(registry.clone(), 8);
/// let totals = worker.run_until_idle(registry.tenants().await?).await;
/// println!("{} jobs done", totals.done);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Worker<C: JobStore> {
    registry: Registry<C>,
    concurrency: usize,
}

impl<C: JobStore> Worker<C> {
    /// A worker taking its connections from `registry`, `concurrency` jobs at a time.
    ///
    /// ```no_run
    /// # fn f(registry: tenantpool::Registry<tenantpool::SqliteConnection>) {
    /// let worker = tenantpool_jobs::Worker::new(registry, 4);
    /// # }
    /// ```
    pub fn new(registry: Registry<C>, concurrency: usize) -> Self {
        Self {
            registry,
            concurrency: concurrency.max(1),
        }
    }

    /// One job for each of `tenants` (those with one pending), `concurrency` at a time.
    ///
    /// ```no_run
    /// # async fn f(w: tenantpool_jobs::Worker<tenantpool::SqliteConnection>) -> Result<(), tenantpool::Error> {
    /// let round = w.run_round(vec![tenantpool::TenantId::parse("acme")?]).await;
    /// # Ok(()) }
    /// ```
    pub async fn run_round(&self, tenants: Vec<TenantId>) -> Round {
        let outcomes = self
            .registry
            .fan_out(tenants, self.concurrency, |_| self.run_one())
            .await;
        let mut round = Round::default();
        for o in outcomes {
            match o.result {
                Ok(Some(Ended::Done)) => round.done += 1,
                Ok(Some(Ended::Failed)) => round.failed += 1,
                Ok(None) => round.idle += 1,
                Err(FanOutError::Failed(e)) => {
                    tracing::warn!(tenant = %o.tenant, error = %e, "no job could run");
                    round.errors += 1;
                }
                Err(FanOutError::Panicked(message)) => {
                    tracing::error!(tenant = %o.tenant, %message, "the worker panicked outside a job");
                    round.errors += 1;
                }
            }
        }
        round
    }

    /// Rounds until a round finds no pending job in any tenant (or only errors); the totals.
    ///
    /// ```no_run
    /// # async fn f(w: tenantpool_jobs::Worker<tenantpool::SqliteConnection>) -> Result<(), tenantpool::Error> {
    /// let totals = w.run_until_idle(vec![tenantpool::TenantId::parse("acme")?]).await;
    /// # Ok(()) }
    /// ```
    pub async fn run_until_idle(&self, tenants: Vec<TenantId>) -> Round {
        let mut totals = Round::default();
        loop {
            let round = self.run_round(tenants.clone()).await;
            totals.done += round.done;
            totals.failed += round.failed;
            totals.errors += round.errors;
            if round.ran() == 0 {
                totals.idle = round.idle;
                return totals;
            }
        }
    }

    /// Rounds until `stop` completes, pausing `poll` after a round that found nothing to do.
    /// A round in flight when `stop` completes is dropped: its jobs roll back and stay
    /// pending.
    ///
    /// ```no_run
    /// # async fn f(w: tenantpool_jobs::Worker<tenantpool::SqliteConnection>) -> Result<(), tenantpool::Error> {
    /// let tenants = vec![tenantpool::TenantId::parse("acme")?];
    /// let totals = w.run(tenants, std::time::Duration::from_secs(1), async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// }).await;
    /// # Ok(()) }
    /// ```
    pub async fn run(
        &self,
        tenants: Vec<TenantId>,
        poll: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Round {
        let mut totals = Round::default();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => return totals,
                round = self.run_round(tenants.clone()) => {
                    totals.done += round.done;
                    totals.failed += round.failed;
                    totals.errors += round.errors;
                    if round.ran() == 0 {
                        tokio::select! {
                            () = &mut stop => return totals,
                            () = tokio::time::sleep(poll) => {}
                        }
                    }
                }
            }
        }
    }

    /// One job of the current tenant, on a checkout of its own that goes back when the job
    /// ends. `Ok(None)` when the tenant has no pending job.
    async fn run_one(&self) -> Result<Option<Ended>, BoxError> {
        let mut conn = self.registry.get_current().await?;
        let tenant = tenantpool::current_tenant()?;
        let claimed = conn
            .transaction::<Option<(i64, String)>, Rollback, _>(async |conn| {
                let Some(job) = C::claim(conn).await? else {
                    return Ok(None);
                };
                // A panic inside the job rolls its work back like an error, and the
                // connection stays clean for the next job.
                let ran = AssertUnwindSafe(process::<C>(conn, &job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&*panic))));
                match ran {
                    Ok(result) => {
                        C::finish(conn, job.id, "done", &result).await?;
                        Ok(Some((job.id, result)))
                    }
                    Err(message) => Err(Rollback::Job(job.id, message)),
                }
            })
            .await;
        match claimed {
            Ok(None) => Ok(None),
            Ok(Some((id, result))) => {
                tracing::info!(%tenant, job = id, %result, "job done");
                Ok(Some(Ended::Done))
            }
            Err(Rollback::Job(id, message)) => {
                C::finish(&mut conn, id, "failed", &message).await?;
                tracing::warn!(%tenant, job = id, %message, "job failed");
                Ok(Some(Ended::Failed))
            }
            Err(Rollback::Db(e)) => Err(e.into()),
        }
    }
}

/// Runs `job` on the tenant's connection: its result, or why it failed.
async fn process<C: JobStore>(conn: &mut C, job: &Job) -> Result<String, String> {
    match job.kind.as_str() {
        "count_notes" => C::count_notes(conn)
            .await
            .map(|n| n.to_string())
            .map_err(|e| format!("cannot count notes: {e}")),
        "fail" => Err("the job failed, as asked".into()),
        "panic" => panic!("the job panicked, as asked"),
        other => Err(format!("unknown job kind {other:?}")),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into())
}
