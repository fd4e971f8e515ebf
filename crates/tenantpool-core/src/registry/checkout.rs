//! Checkout: a cached tenant's entry → a guard, within one deadline.
//!
//! A checkout takes, in order, the tenant's fair share (when it shares its pool), a pool
//! connection (waiting in the affinity queue too in a shared pool) and, when the pool must
//! grow, a budget permit; one deadline (`pool.checkout_timeout`) covers all three. In schema
//! mode the guard is then put on the tenant's schema.
//!
//! A checkout not served at its first poll counts as a wait of its tenant, from that poll
//! until it ends (see `pressure`); one served at once counts nothing.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{PoolError, TimeoutType, Timeouts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::affinity::{Affinity, Handoff};
use crate::backend::{Backend, ConnectFailure};
use crate::budget::BudgetError;
use crate::entry::TenantEntry;
use crate::manager::CreateError;
use crate::metrics::{PoolMetrics, WaitClock};
use crate::pool::PoolObject;
use crate::pressure::{Pressure, Waiting};
use crate::stats::Counters;
use crate::{Error, PooledConnection, SchemaName};

/// How many more connections a checkout tries after the one it got turned out lost before it
/// was handed over (a backend terminated while idle, a failover): the server is up, so the
/// client should not see the dead connection. An unreachable server still fails the retry's
/// connect, with a 503.
pub(super) const LOST_RETRIES: usize = 3;

/// Whether a checkout's waits count in its tenant's pressure figures: a request's do; the
/// first checkout of a start does not (the start opens the tenant's first connection, which
/// is not a wait of any request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Waits {
    Counted,
    NotCounted,
}

/// The hot path: a checkout plus, in schema mode, the schema guarantee.
pub(super) async fn checkout<C: Backend>(
    entry: Arc<TenantEntry<C>>,
) -> Result<PooledConnection<C>, Error> {
    let mut conn = checkout_raw(entry, Waits::Counted).await?;
    // Checked before the future is built: a connection already on the tenant's schema (the
    // common case under affinity) costs no allocation. Boxed, since only a switch pays for it,
    // and a switch pays a round trip anyway.
    if conn.needs_schema_switch() {
        conn = Box::pin(switch_or_retry(conn)).await?;
    }
    let pool = conn.entry().pool();
    Counters::bump(&pool.counters.checkouts);
    pool.warm();
    pool.budget.signals().note_checkout();
    Ok(conn)
}

/// Puts a checked-out connection on its tenant's schema; when the connection turns out lost,
/// discards it and checks out another, at most [`LOST_RETRIES`] times.
async fn switch_or_retry<C: Backend>(
    mut conn: PooledConnection<C>,
) -> Result<PooledConnection<C>, Error> {
    let mut retries = 0;
    loop {
        match conn.switch_to_tenant_schema().await {
            Ok(()) => return Ok(conn),
            Err(failure) if failure.lost && retries < LOST_RETRIES => {
                retries += 1;
                let entry = conn.entry_arc();
                Counters::bump(&entry.pool().counters.lost_before_handover);
                entry.pool().suspect_idle();
                tracing::info!(
                    tenant = %entry.tenant(),
                    target_db = %entry.pool().url,
                    retries,
                    "a connection was lost before it was handed over; checking out another"
                );
                drop(conn);
                conn = checkout_raw(entry, Waits::Counted).await?;
            }
            Err(failure) => return Err(failure.error),
        }
    }
}

/// Fair share, then a pool connection, within the checkout timeout; no schema switch.
pub(super) async fn checkout_raw<C: Backend>(
    entry: Arc<TenantEntry<C>>,
    waits: Waits,
) -> Result<PooledConnection<C>, Error> {
    let wait = async {
        let entry = &*entry;
        let share = match entry.share() {
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(TryAcquireError::Closed) => return Err(Error::Closed),
                // Boxed: only a tenant at its cap waits here.
                Err(TryAcquireError::NoPermits) => match Box::pin(wait_share(entry, s)).await? {
                    Ok(permit) => Some(permit),
                    Err((obj, Some(permit))) => return Ok((obj, Some(permit))),
                    // Not sent: a share waiter is handed its tenant's permit.
                    Err((obj, None)) => {
                        let permit = s.clone().acquire_owned().await.map_err(|_| Error::Closed)?;
                        return Ok((obj, Some(permit)));
                    }
                },
            },
            None => None,
        };
        let obj = match (&entry.pool().affinity, entry.schema()) {
            (Some(affinity), Some(schema)) => get_with_affinity(entry, affinity, schema).await?,
            _ => get_from_pool(entry).await?,
        };
        Ok::<_, Error>((obj, share))
    };
    let counted = (waits == Waits::Counted).then(|| (entry.pressure(), &entry.pool().metrics));
    match with_deadline(entry.checkout_timeout(), counted, wait).await {
        // The checkout's reference to the entry moves into the guard.
        Ok(Ok((obj, share))) => Ok(PooledConnection::new(obj, share, entry)),
        Ok(Err(e)) => Err(e),
        Err(DeadlinePassed) => {
            let pool = entry.pool();
            Counters::bump(&pool.counters.checkout_timeouts);
            if waits == Waits::Counted {
                entry.pressure().timed_out();
            }
            tracing::warn!(
                tenant = %entry.tenant(),
                target_db = %pool.url,
                waited = ?entry.checkout_timeout(),
                pool_waiting = pool.pool.status().waiting,
                budget_open = pool.budget.open(),
                "checkout timed out"
            );
            Err(Error::Exhausted {
                tenant: entry.tenant().clone(),
                waited: entry.checkout_timeout(),
            })
        }
    }
}

/// The tenant holds its whole fair share: a permit when one is released or, in a shared
/// pool, one of the tenant's own connections handed over by its return with its permit,
/// still on the tenant's schema (see the `affinity` module).
async fn wait_share<C: Backend>(
    entry: &TenantEntry<C>,
    share: &Arc<Semaphore>,
) -> Result<Result<OwnedSemaphorePermit, Handoff<PoolObject<C>>>, Error> {
    let permit = async {
        share
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)
    };
    match (&entry.pool().affinity, entry.schema()) {
        (Some(affinity), Some(schema)) => {
            let handed = affinity.wait_for_share(schema, share);
            tokio::select! {
                biased;
                Ok(handoff) = handed => Ok(Err(handoff)),
                permit = permit => permit.map(Ok),
            }
        }
        _ => permit.await.map(Ok),
    }
}

/// A connection from the entry's pool, waiting as long as it takes (the caller bounds it).
async fn get_from_pool<C: Backend>(entry: &TenantEntry<C>) -> Result<PoolObject<C>, Error> {
    loop {
        match entry.pool().pool.get().await {
            // One of this pool's connections came back while the creator waited.
            Err(PoolError::Backend(CreateError::Retry)) => continue,
            other => return other.map_err(|e| pool_error(e, entry)),
        }
    }
}

/// In a shared pool: a free connection if there is one; otherwise wait both in the pool and
/// in the affinity queue, where a returned connection on this schema comes first.
async fn get_with_affinity<C: Backend>(
    entry: &TenantEntry<C>,
    affinity: &Affinity<PoolObject<C>>,
    schema: &SchemaName,
) -> Result<PoolObject<C>, Error> {
    let now = Timeouts {
        wait: Some(Duration::ZERO),
        create: None,
        recycle: None,
    };
    match entry.pool().pool.timeout_get(&now).await {
        Err(PoolError::Timeout(TimeoutType::Wait)) => {}
        Err(PoolError::Backend(CreateError::Retry)) => {}
        other => return other.map_err(|e| pool_error(e, entry)),
    }
    let handed = affinity.wait_for(schema);
    tokio::select! {
        biased;
        // No permit comes with it: this checkout holds its share already.
        Ok((obj, _)) = handed => Ok(obj),
        got = get_from_pool(entry) => got,
    }
}

/// The error a checkout reports for what the pool said.
fn pool_error<C: Backend>(e: PoolError<CreateError>, entry: &TenantEntry<C>) -> Error {
    let pool = entry.pool();
    let tenant = entry.tenant().clone();
    let unavailable = |reason: String, retry_after: Duration| Error::Unavailable {
        tenant: tenant.clone(),
        server: pool.budget.server().clone(),
        reason: pool.url.redact(&reason),
        retry_after: retry_after.max(Duration::from_secs(1)),
    };
    match e {
        PoolError::Backend(CreateError::Connect(ConnectFailure::DatabaseMissing)) => {
            Error::DatabaseMissing {
                tenant,
                target: pool.url.to_string(),
            }
        }
        PoolError::Backend(CreateError::Connect(ConnectFailure::Tls(reason))) => Error::Tls {
            tenant,
            server: pool.budget.server().clone(),
            reason: pool.url.redact(&reason),
        },
        PoolError::Backend(CreateError::Connect(failure)) => {
            unavailable(failure.to_string(), pool.budget.backoff_initial())
        }
        PoolError::Backend(CreateError::Budget(BudgetError::ServerDown {
            reason,
            retry_after,
        })) => unavailable(reason, retry_after),
        PoolError::Backend(CreateError::Budget(BudgetError::Closed)) | PoolError::Closed => {
            Error::Closed
        }
        PoolError::Timeout(_) => Error::Exhausted {
            tenant,
            waited: entry.checkout_timeout(),
        },
        PoolError::Backend(CreateError::Retry)
        | PoolError::NoRuntimeSpecified
        | PoolError::PostCreateHook(_) => Error::Setup {
            tenant,
            reason: "the pool is misconfigured".into(),
        },
    }
}

pin_project_lite::pin_project! {
    /// `tokio::time::timeout`, except that the timer is created only once `fut` has been
    /// pending: a warm checkout is ready at its first poll and pays for no timer. A struct
    /// rather than an `async fn`, so that the future is stored once, not once per state.
    /// Counted checkouts (`counted`) are a wait in the tenant's pressure from that first
    /// pending poll until the future is dropped, and reach the pool's wait histogram when
    /// they end: at once, or after waiting as `clock` says.
    struct Deadline<'a, F> {
        #[pin]
        fut: F,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        limit: Duration,
        counted: Option<(&'a Pressure, &'a PoolMetrics)>,
        waiting: Option<Waiting<'a>>,
        clock: WaitClock,
    }
}

/// The checkout deadline passed.
struct DeadlinePassed;

fn with_deadline<'a, F: std::future::Future>(
    limit: Duration,
    counted: Option<(&'a Pressure, &'a PoolMetrics)>,
    fut: F,
) -> Deadline<'a, F> {
    Deadline {
        fut,
        timer: None,
        limit,
        counted,
        waiting: None,
        clock: WaitClock::default(),
    }
}

impl<F: std::future::Future> std::future::Future for Deadline<'_, F> {
    type Output = Result<F::Output, DeadlinePassed>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let mut this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            if let Some((_, metrics)) = this.counted {
                if this.timer.is_none() {
                    metrics.served_at_once();
                } else {
                    metrics.waited(this.clock);
                }
            }
            return Poll::Ready(Ok(out));
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.limit)));
            if let Some((pressure, _)) = this.counted {
                *this.waiting = Some(pressure.begin_wait());
                this.clock.start();
            }
        }
        match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => {
                if let Some((_, metrics)) = this.counted {
                    metrics.waited(this.clock);
                }
                Poll::Ready(Err(DeadlinePassed))
            }
            _ => Poll::Pending,
        }
    }
}
