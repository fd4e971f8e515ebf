//! The deadpool manager: how a pool opens a connection under its server's budget, and how it
//! checks an idle one before handing it out.
//!
//! [`Pooled`] is what the pool stores: the driver connection plus the registry's bookkeeping
//! (its budget permit, its statement tracker, its schema, when it went idle, its held-too-long
//! slot). Its `Drop` closes the connection through [`Backend::close`], which releases the permit
//! only once the server-side session is gone.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use crate::backend::ConnectionPermit;
use crate::backend::{Backend, ConnectContext, ConnectFailure};
use crate::budget::{BudgetError, ConnectTurn, ServerBudget};
use crate::config::PoolSettings;
use crate::held::{HeldSlot, HeldWatch};
use crate::metrics::{PoolMetrics, Since};
use crate::stats::Counters;
use crate::tracking::{StatementState, StatementTracker};
use crate::{DatabaseUrl, IoRuntime, SchemaName};

/// A connection as the pool stores it: one pointer to its [`PooledState`].
///
/// Deadpool moves pooled objects by value on every checkout and return (into and out of its
/// slots, its `Object`, the checkout future), so the whole state lives behind one box and each
/// move copies a pointer.
pub(crate) struct Pooled<C: Backend>(Box<PooledState<C>>);

impl<C: Backend> std::ops::Deref for Pooled<C> {
    type Target = PooledState<C>;

    fn deref(&self) -> &PooledState<C> {
        &self.0
    }
}

impl<C: Backend> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut PooledState<C> {
        &mut self.0
    }
}

/// The driver connection plus what the registry needs to know about it.
pub(crate) struct PooledState<C: Backend> {
    // Taken exactly once, in `Drop`, and handed to `Backend::close` with the permit.
    pub(crate) conn: ManuallyDrop<C>,
    permit: Option<ConnectionPermit>,
    statements: Arc<StatementState>,
    io: IoRuntime,
    live: Arc<AtomicUsize>,
    created: Instant,
    /// When it last went back to the pool idle.
    pub(crate) returned_at: Instant,
    /// The schema the server-side session is on, when known for certain. `None` means "the
    /// connection's default, or unknown": the next schema-mode checkout must switch.
    pub(crate) schema: Option<SchemaName>,
    /// Set when the connection must not be reused (a failed switch, a user's `discard`).
    pub(crate) discard: bool,
    /// Set when the connection was abandoned mid-statement: close it without draining.
    pub(crate) abandoned: bool,
    /// Its checkout record for held-too-long warnings (`None` when they are off).
    pub(crate) held: Option<Arc<HeldSlot>>,
    counters: Arc<Counters>,
}

impl<C: Backend> PooledState<C> {
    /// Must not be reused: a transaction open or broken, a closed socket, a statement whose
    /// future was dropped, or a statement that failed because the connection was lost.
    pub(crate) fn is_dirty(&mut self) -> bool {
        self.statements.abandoned() || self.statements.lost() || self.conn.is_dirty()
    }

    /// The connection to the server is gone.
    pub(crate) fn is_lost(&mut self) -> bool {
        self.statements.lost() || self.conn.is_closed()
    }

    pub(crate) fn io(&self) -> &IoRuntime {
        &self.io
    }

    pub(crate) fn created(&self) -> Instant {
        self.created
    }
}

impl<C: Backend> Drop for PooledState<C> {
    fn drop(&mut self) {
        Counters::bump(&self.counters.connections_closed);
        self.live.fetch_sub(1, Ordering::AcqRel);
        // SAFETY: `conn` is never used again after this line; `drop` runs once.
        let conn = unsafe { ManuallyDrop::take(&mut self.conn) };
        conn.close(self.permit.take(), &self.io, !self.abandoned);
    }
}

/// A connection just opened and not yet pooled, with its permit: closed through
/// [`Backend::close`] (the permit released once the session is gone) if dropped while still
/// held, as when the checkout is cancelled during the capacity check.
struct Opening<'a, C: Backend> {
    opened: Option<(C, Option<ConnectionPermit>)>,
    io: &'a IoRuntime,
}

impl<C: Backend> Drop for Opening<'_, C> {
    fn drop(&mut self) {
        if let Some((conn, permit)) = self.opened.take() {
            conn.close(permit, self.io, false);
        }
    }
}

/// Why a pool could not hand out a new connection.
#[derive(Debug, Clone)]
pub(crate) enum CreateError {
    Budget(BudgetError),
    Connect(ConnectFailure),
    /// A connection came back to this pool while the creator waited for the budget: try the
    /// pool again instead of opening one more.
    Retry,
}

/// Creates connections under the server budget and recycles them with local checks, plus a
/// round trip only for connections idle longer than a threshold.
pub(crate) struct Manager<C> {
    url: DatabaseUrl,
    budget: Arc<ServerBudget>,
    io: IoRuntime,
    counters: Arc<Counters>,
    shared: bool,
    create_missing: bool,
    connect_timeout: Duration,
    warm_steal_after: Duration,
    max_lifetime: Duration,
    validate_after_idle: Duration,
    /// Connections of this pool that exist (idle or in use).
    live: Arc<AtomicUsize>,
    /// When the manager was built: the origin of `suspect_until`.
    born: Instant,
    /// Nanoseconds after `born`, plus one, until which returned connections are suspect (0:
    /// none): a connection of this pool was found lost then, so the others that sat idle
    /// through the same moment (a failover, every session killed) are validated with a round
    /// trip at their next checkout instead of failing one request each.
    suspect_until: AtomicU64,
    /// Notified when a connection goes back to this pool while creators on its server wait.
    returned: tokio::sync::Notify,
    /// The checkouts of this pool's connections, for held-too-long warnings (`None`: off).
    held: Option<HeldWatch>,
    metrics: PoolMetrics,
    _conn: std::marker::PhantomData<fn() -> C>,
}

/// What a [`Manager`] is built from, besides the pool settings.
pub(crate) struct ManagerParts {
    pub(crate) url: DatabaseUrl,
    pub(crate) budget: Arc<ServerBudget>,
    pub(crate) io: IoRuntime,
    pub(crate) counters: Arc<Counters>,
    /// Several tenants share the pool (schema mode).
    pub(crate) shared: bool,
    pub(crate) create_missing: bool,
    pub(crate) warm_steal_after: Duration,
    /// The pool's histograms (connect time).
    pub(crate) metrics: PoolMetrics,
}

impl<C: Backend> Manager<C> {
    pub(crate) fn new(parts: ManagerParts, pool: &PoolSettings) -> Self {
        Self {
            url: parts.url,
            budget: parts.budget,
            io: parts.io,
            counters: parts.counters,
            shared: parts.shared,
            create_missing: parts.create_missing,
            connect_timeout: pool.connect_timeout,
            warm_steal_after: parts.warm_steal_after,
            max_lifetime: pool.max_lifetime,
            validate_after_idle: pool.validate_after_idle_for(C::KIND),
            live: Arc::default(),
            born: Instant::now(),
            suspect_until: AtomicU64::new(0),
            returned: tokio::sync::Notify::new(),
            held: HeldWatch::new(pool.leak_warning_after),
            metrics: parts.metrics,
            _conn: std::marker::PhantomData,
        }
    }
}

impl<C> Manager<C> {
    /// Marks every connection returned until now as suspect: each is validated with a round
    /// trip at its next checkout. Called when one of them turned out lost.
    pub(crate) fn suspect_idle(&self) {
        let nanos = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.suspect_until.fetch_max(nanos + 1, Ordering::AcqRel);
    }

    /// Whether a connection returned at `returned_at` sat idle through a loss in this pool.
    fn is_suspect(&self, returned_at: Instant) -> bool {
        match self.suspect_until.load(Ordering::Acquire) {
            0 => false,
            until => {
                let returned = returned_at.saturating_duration_since(self.born).as_nanos();
                returned < u128::from(until)
            }
        }
    }

    /// Connections of this pool that exist, idle or in use.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The watch over this pool's checkouts, when held-too-long warnings are on.
    pub(crate) fn held(&self) -> Option<&HeldWatch> {
        self.held.as_ref()
    }

    /// Wakes one creator of this pool that waits for the budget: a connection came back, and
    /// it can take that one instead of opening another.
    pub(crate) fn notify_returned(&self) {
        self.returned.notify_one();
    }

    /// A turn to connect, then a budget permit.
    async fn reserve(
        &self,
        steal_idle_for: Duration,
    ) -> Result<(ConnectTurn, ConnectionPermit), CreateError> {
        let turn = self
            .budget
            .connect_turn()
            .await
            .map_err(CreateError::Budget)?;
        let permit = self
            .budget
            .acquire(&self.counters, steal_idle_for)
            .await
            .map_err(CreateError::Budget)?;
        Ok((turn, permit))
    }
}

impl<C: Backend> managed::Manager for Manager<C> {
    type Type = Pooled<C>;
    type Error = CreateError;

    fn create(&self) -> impl Future<Output = Result<Pooled<C>, CreateError>> + Send {
        // Boxed: creating is the rare path, and its state (budget wait, connect) would
        // otherwise sit inline in every checkout's future and be moved with it.
        Box::pin(self.open())
    }

    async fn recycle(&self, obj: &mut Pooled<C>, _: &Metrics) -> RecycleResult<CreateError> {
        if obj.discard || obj.is_dirty() {
            Counters::bump(&self.counters.discarded_broken);
            return Err(RecycleError::message("connection is broken"));
        }
        let now = Instant::now();
        if now.saturating_duration_since(obj.created) >= self.max_lifetime {
            Counters::bump(&self.counters.reaped_lifetime);
            return Err(RecycleError::message("connection reached its max lifetime"));
        }
        if (now.saturating_duration_since(obj.returned_at) >= self.validate_after_idle
            || self.is_suspect(obj.returned_at))
            && Box::pin(obj.conn.validate()).await.is_err()
        {
            Counters::bump(&self.counters.discarded_broken);
            return Err(RecycleError::message("connection failed its ping"));
        }
        Ok(())
    }
}

impl<C: Backend> Manager<C> {
    /// Opens a connection under the server's budget.
    ///
    /// A pool that has no connection takes any idle connection on the server to make room. A
    /// pool that has some and wants one more only takes long-idle ones, and gives up as soon
    /// as one of its own connections comes back (the checkout then takes that one).
    async fn open(&self) -> Result<Pooled<C>, CreateError> {
        let (_turn, permit) = if self.live() > 0 {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            tokio::select! {
                biased;
                () = &mut returned => return Err(CreateError::Retry),
                reserved = self.reserve(self.warm_steal_after) => reserved?,
            }
        } else {
            self.reserve(Duration::ZERO).await?
        };
        let ctx = ConnectContext {
            io: self.io.clone(),
            permit,
            timeout: self.connect_timeout,
            create_missing: self.create_missing,
        };
        let connecting = Since::now();
        match C::connect(self.url.clone(), ctx).await {
            Ok(opened) => {
                self.metrics.connected(&connecting);
                // The first connection of this process to the server reads what the server
                // accepts (see `capacity`), before the statement tracker is installed (the
                // query is not the user's). A checkout cancelled meanwhile closes it through
                // `Backend::close`, so its permit outlives its session.
                let (mut conn, permit) = if self.budget.capacity().take() {
                    let mut opening = Opening {
                        opened: Some(opened),
                        io: &self.io,
                    };
                    if let Some((conn, _)) = opening.opened.as_mut() {
                        match conn.server_capacity().await {
                            Ok(Some(accepts)) => {
                                self.budget.capacity().record(self.budget.server(), accepts);
                            }
                            Ok(None) => {}
                            Err(e) => tracing::debug!(
                                target_db = %self.url,
                                error = %e,
                                "cannot read what the server accepts; its capacity is not checked"
                            ),
                        }
                    }
                    match opening.opened.take() {
                        Some(opened) => opened,
                        None => return Err(CreateError::Retry),
                    }
                } else {
                    opened
                };
                self.live.fetch_add(1, Ordering::AcqRel);
                let statements = Arc::new(StatementState::default());
                conn.set_instrumentation(StatementTracker::new(statements.clone()));
                self.budget.record_success();
                Counters::bump(&self.counters.connections_created);
                if self.shared {
                    conn.prepare_for_sharing();
                }
                let now = Instant::now();
                Ok(Pooled(Box::new(PooledState {
                    conn: ManuallyDrop::new(conn),
                    permit,
                    statements,
                    io: self.io.clone(),
                    live: self.live.clone(),
                    created: now,
                    returned_at: now,
                    schema: None,
                    discard: false,
                    abandoned: false,
                    held: self.held.as_ref().map(HeldWatch::register),
                    counters: self.counters.clone(),
                })))
            }
            Err(failure) => {
                Counters::bump(&self.counters.connect_failures);
                // A missing database or a TLS setting is the target's, not the server's: other
                // tenants on the server are not made to fail fast for it.
                if !matches!(
                    failure,
                    ConnectFailure::DatabaseMissing | ConnectFailure::Tls(_)
                ) {
                    let backoff = self.budget.record_failure(&failure.to_string());
                    tracing::warn!(
                        target_db = %self.url,
                        error = %failure,
                        backoff = ?backoff,
                        "connect failed; failing fast on this server for the backoff"
                    );
                }
                Err(CreateError::Connect(failure))
            }
        }
    }
}
