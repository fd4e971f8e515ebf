//! One pool per database target, closed exactly when nothing uses it any more.
//!
//! A [`SharedPool`] wraps a deadpool pool of diesel-async connections. Tenant entries and
//! checked-out guards hold it by `Arc`; the registry's map and the server budget hold only
//! `Weak`s. When the last `Arc` goes (the last tenant evicted and the last guard returned),
//! its `Drop` closes the deadpool pool and every idle connection closes at once. No one
//! compares identities or counts users by hand: an entry rebuilt while a stale eviction notice
//! is in flight shares the same live pool, and the notice only drops one reference.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use crate::backend::{Backend, ConnectContext, ConnectFailure};
use crate::budget::{BudgetError, IdleSource, ServerBudget};
use crate::stats::Counters;
use crate::tracking::{StatementState, StatementTracker};
use crate::{ConnectionPermit, ConnectionPlacement, DatabaseUrl, IoRuntime, SchemaName};

/// A connection as the pool stores it: one pointer to its [`PooledState`].
///
/// Deadpool moves pooled objects by value on every checkout and return (into and out of its
/// slots, its `Object`, the checkout future), so the whole state lives behind one box: each
/// move copies a pointer instead of a few hundred bytes.
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
    // Taken exactly once, in `Drop`, and handed to `Backend::close` with the permit, which
    // releases the permit only once the server-side session is gone.
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
    /// Set when a clean connection should close at its return instead of going back to the
    /// pool (one opened on the I/O runtime for a tenant start, under caller placement).
    pub(crate) retire: bool,
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

/// Why a pool could not hand out a new connection.
#[derive(Debug, Clone)]
pub(crate) enum CreateError {
    Budget(BudgetError),
    Connect(ConnectFailure),
    /// A connection came back to this pool while the creator waited for the budget: try the
    /// pool again instead of opening one more.
    Retry,
}

/// The deadpool manager: creates connections under the server budget and recycles them with
/// local checks, plus a round trip only for connections idle longer than a threshold.
pub(crate) struct Manager<C> {
    pub(crate) url: DatabaseUrl,
    pub(crate) budget: Arc<ServerBudget>,
    pub(crate) io: IoRuntime,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shared: bool,
    pub(crate) create_missing: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) placement: ConnectionPlacement,
    pub(crate) warm_steal_after: Duration,
    /// Connections of this pool that exist (idle or in use).
    pub(crate) live: Arc<AtomicUsize>,
    /// Notified when a connection goes back to this pool while creators on its server wait.
    pub(crate) returned: Arc<tokio::sync::Notify>,
    pub(crate) max_lifetime: Duration,
    pub(crate) validate_after_idle: Duration,
    pub(crate) _conn: std::marker::PhantomData<fn() -> C>,
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
        let now = crate::clock::now();
        if now.saturating_duration_since(obj.created) >= self.max_lifetime {
            Counters::bump(&self.counters.reaped_lifetime);
            return Err(RecycleError::message("connection reached its max lifetime"));
        }
        if now.saturating_duration_since(obj.returned_at) >= self.validate_after_idle
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
        let (_turn, permit) = if self.live.load(Ordering::Acquire) > 0 {
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
        let io = match self.placement {
            ConnectionPlacement::Io => self.io.clone(),
            ConnectionPlacement::Caller => tokio::runtime::Handle::try_current()
                .map(IoRuntime::from_handle)
                .unwrap_or_else(|_| self.io.clone()),
        };
        let ctx = ConnectContext {
            io,
            permit,
            timeout: self.connect_timeout,
            create_missing: self.create_missing,
        };
        match C::connect(self.url.clone(), ctx).await {
            Ok((mut conn, permit)) => {
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
                    retire: false,
                    counters: self.counters.clone(),
                })))
            }
            Err(failure) => {
                Counters::bump(&self.counters.connect_failures);
                if !matches!(failure, ConnectFailure::DatabaseMissing) {
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

impl<C> Manager<C> {
    /// A turn to connect, then a budget permit.
    async fn reserve(
        &self,
        steal_idle_for: Duration,
    ) -> Result<(crate::budget::ConnectTurn, ConnectionPermit), CreateError> {
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

pub(crate) type DeadPool<C> = managed::Pool<Manager<C>>;

/// A pool of connections to one target, shared by every tenant that points at it.
pub(crate) struct SharedPool<C: Backend> {
    pub(crate) url: DatabaseUrl,
    pub(crate) pool: DeadPool<C>,
    pub(crate) budget: Arc<ServerBudget>,
    pub(crate) counters: Arc<Counters>,
    /// Schema mode: several tenants share it and connections switch schemas.
    pub(crate) shared: bool,
    /// Cached tenant entries that point at it.
    pub(crate) tenants: AtomicUsize,
    /// Schema mode: checkouts waiting on the exhausted pool, by schema.
    pub(crate) affinity: Option<crate::affinity::Affinity<C>>,
    /// Checkouts lately, halved by every maintenance pass (see `IdleSource::heat`).
    pub(crate) heat: std::sync::atomic::AtomicU64,
}

impl<C: Backend> SharedPool<C> {
    /// Closes idle connections unused for `idle_timeout` or older than `max_lifetime`.
    pub(crate) fn reap(&self, idle_timeout: Duration, max_lifetime: Duration) {
        // Not `status().available`: deadpool counts a checkout that is still creating its
        // connection as a user, so `available` can be 0 while idle connections sit in the pool.
        let now = Instant::now();
        let (mut idle, mut old) = (0, 0);
        let removed = self.pool.retain(|p, _| {
            if now.saturating_duration_since(p.created) >= max_lifetime {
                old += 1;
                false
            } else if now.saturating_duration_since(p.returned_at) >= idle_timeout {
                idle += 1;
                false
            } else {
                true
            }
        });
        drop(removed);
        if idle + old > 0 {
            self.counters
                .reaped_idle
                .fetch_add(idle, std::sync::atomic::Ordering::Relaxed);
            self.counters
                .reaped_lifetime
                .fetch_add(old, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(target_db = %self.url, idle, old, "reaped connections");
        }
    }

    /// Halves the checkout count, so that it weighs recent traffic.
    pub(crate) fn cool(&self) {
        let _ = self
            .heat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| Some(h / 2));
    }

    pub(crate) fn in_use(&self) -> usize {
        let s = self.pool.status();
        s.size - s.available
    }
}

impl<C: Backend> IdleSource for SharedPool<C> {
    fn oldest_idle(&self) -> Option<Instant> {
        let mut oldest: Option<Instant> = None;
        let _ = self.pool.retain(|p, _| {
            oldest = Some(oldest.map_or(p.returned_at, |o| o.min(p.returned_at)));
            true
        });
        oldest
    }

    fn close_idle_at(&self, at: Instant) -> bool {
        let mut closed_one = false;
        let removed = self.pool.retain(|p, _| {
            if !closed_one && p.returned_at <= at {
                closed_one = true;
                false
            } else {
                true
            }
        });
        !removed.removed.is_empty()
    }

    fn heat(&self) -> u64 {
        self.heat.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        self.url.to_string()
    }
}

impl<C: Backend> Drop for SharedPool<C> {
    fn drop(&mut self) {
        self.pool.close();
        Counters::bump(&self.counters.pools_closed);
        tracing::info!(target_db = %self.url, server = %self.budget.server(), "pool closed");
    }
}

/// Counts the tenants that point at a pool for as long as the entry lives.
pub(crate) struct TenantHold<C: Backend>(pub(crate) Arc<SharedPool<C>>);

impl<C: Backend> TenantHold<C> {
    pub(crate) fn new(pool: Arc<SharedPool<C>>) -> Self {
        pool.tenants.fetch_add(1, Ordering::Relaxed);
        Self(pool)
    }
}

impl<C: Backend> Drop for TenantHold<C> {
    fn drop(&mut self) {
        self.0.tenants.fetch_sub(1, Ordering::Relaxed);
    }
}
