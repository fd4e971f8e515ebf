//! One pool per database target, closed exactly when nothing uses it any more, and the one
//! place that decides what becomes of a connection coming back.
//!
//! A [`SharedPool`] wraps a deadpool pool of diesel-async connections. Tenant entries and
//! checked-out guards hold it by `Arc`; the registry's map and the server budget hold only
//! `Weak`s. When the last `Arc` goes (the last tenant evicted and the last guard returned),
//! its `Drop` closes the deadpool pool and every idle connection closes at once. No one
//! compares identities or counts users by hand: an entry rebuilt while a stale eviction notice
//! is in flight shares the same live pool, and the notice only drops one reference.
//!
//! [`SharedPool::put_back`] is the return path every guard takes. It chooses one of four ends:
//!
//! - **discard** a dirty connection (a transaction still open or broken, a statement abandoned
//!   mid-flight, a closed socket, a panic in progress, or marked by the user): it closes now,
//!   after the server was asked to stop its statement, so it never sits in the pool holding
//!   locks or session state;
//! - **hand off** its budget permit: creators on the same server wait for one, this pool has
//!   no waiter of its own and holds more than this connection, so it closes and the permit
//!   passes on (a pool keeps its last connection);
//! - **offer** it to a checkout waiting in the affinity queue (schema mode), preferring one on
//!   the schema the connection is already on;
//! - **return** it to the pool.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Object};
use futures_util::future::BoxFuture;
use tokio::sync::OwnedSemaphorePermit;

use crate::affinity::{Affinity, Offer};
use crate::backend::Backend;
use crate::budget::{IdleSource, ServerBudget};
use crate::manager::{Manager, ManagerParts, Pooled};
use crate::metrics::PoolMetrics;
use crate::stats::Counters;
use crate::{DatabaseUrl, IoRuntime, Isolation, Settings, TenantId, TenantTarget};

/// The deadpool pool underneath.
pub(crate) type DeadPool<C> = managed::Pool<Manager<C>>;

/// A checked-out pooled connection, as deadpool hands it out.
pub(crate) type PoolObject<C> = Object<Manager<C>>;

/// A pool of connections to one target, shared by every tenant that points at it.
pub(crate) struct SharedPool<C: Backend> {
    pub(crate) url: DatabaseUrl,
    pub(crate) pool: DeadPool<C>,
    pub(crate) budget: Arc<ServerBudget>,
    pub(crate) counters: Arc<Counters>,
    /// Schema mode: several tenants share it and connections switch schemas.
    pub(crate) shared: bool,
    /// Database mode: the tenant whose start opened it, named in its log lines. A schema-mode
    /// pool belongs to no one tenant.
    owner: Option<TenantId>,
    /// Cached tenant entries that point at it.
    pub(crate) tenants: AtomicUsize,
    /// Schema mode: checkouts waiting on the exhausted pool, by schema.
    pub(crate) affinity: Option<Affinity<PoolObject<C>>>,
    /// Checkouts lately, halved by every maintenance pass (see `IdleSource::heat`).
    heat: AtomicU64,
    /// Its server's histograms (checkout wait, connect, held time); nothing without `metrics`.
    pub(crate) metrics: PoolMetrics,
}

impl<C: Backend> SharedPool<C> {
    /// A pool for `target` drawing on `budget`, registered with the budget as a source of idle
    /// connections to steal.
    pub(crate) fn new(
        tenant: &TenantId,
        target: &TenantTarget,
        settings: &Settings,
        budget: Arc<ServerBudget>,
        io: IoRuntime,
        counters: Arc<Counters>,
        metrics: PoolMetrics,
    ) -> Result<Arc<Self>, String> {
        let shared = target.isolation != Isolation::Database;
        let p = &settings.pool;
        // A shared pool belongs to its server target, not to the tenant that happened to
        // build it: it takes the registry's size, and a tenant's own `max_size` caps that
        // tenant's share of it instead (see `TenantEntry::new`).
        let max_size = if shared {
            p.max_size
        } else {
            target.overrides.max_size.unwrap_or(p.max_size)
        }
        .max(1);
        let manager = Manager::new(
            ManagerParts {
                url: target.url.clone(),
                budget: budget.clone(),
                io,
                counters: counters.clone(),
                shared,
                create_missing: target.create_missing,
                warm_steal_after: settings.budget.warm_steal_after,
                metrics: metrics.clone(),
            },
            p,
        );
        // Timeouts are the registry's (one checkout deadline around fair share, pool and
        // budget), so deadpool needs no runtime of its own.
        let pool = DeadPool::builder(manager)
            .max_size(max_size)
            .queue_mode(managed::QueueMode::Lifo)
            .build()
            .map_err(|e| format!("cannot build the pool: {e}"))?;
        let shared_pool = Arc::new(Self {
            url: target.url.clone(),
            pool,
            budget: budget.clone(),
            counters,
            shared,
            owner: (!shared).then(|| tenant.clone()),
            tenants: AtomicUsize::new(0),
            affinity: shared.then(|| Affinity::new(p.affinity_max_delay)),
            heat: AtomicU64::new(0),
            metrics,
        });
        let member: std::sync::Weak<dyn IdleSource> = Arc::downgrade(&shared_pool) as _;
        budget.join(member);
        Counters::bump(&shared_pool.counters.pools_created);
        tracing::info!(
            tenant = shared_pool.owner.as_ref().map(tracing::field::display),
            target_db = %target.url,
            server = %budget.server(),
            max_size,
            shared,
            "pool created"
        );
        Ok(shared_pool)
    }

    /// Takes a connection back from a guard for `tenant`, with the guard's fair-share permit
    /// (see the module docs for the four ends). The permit is released when this returns,
    /// after the connection is dealt with, unless a waiter of the same tenant takes it along.
    /// Marks the connections idle in this pool as suspect (see `Manager::suspect_idle`): one
    /// of them was found lost.
    pub(crate) fn suspect_idle(&self) {
        self.pool.manager().suspect_idle();
    }

    pub(crate) fn put_back(
        &self,
        mut obj: PoolObject<C>,
        mut share: Option<OwnedSemaphorePermit>,
        tenant: &TenantId,
    ) {
        let panicking = std::thread::panicking();
        let dirty = panicking || obj.is_dirty();
        if dirty || obj.discard {
            if obj.is_lost() {
                // Its siblings may have died with it (a failover, every session killed):
                // they are validated before anyone else gets them.
                self.suspect_idle();
            }
            Counters::bump(&self.counters.discarded_dirty);
            tracing::warn!(
                tenant = %tenant,
                target_db = %self.url,
                panicking,
                "discarding a dirty connection instead of returning it to the pool"
            );
            let cancel = if dirty {
                obj.conn.abandon(&self.url)
            } else {
                None
            };
            obj.abandoned = dirty;
            let pooled = Object::take(obj);
            match cancel {
                Some(cancel) => abandon(pooled, cancel, self.budget.clone(), self.counters.clone()),
                None => drop(pooled),
            }
            return;
        }
        if self.budget.has_waiters()
            && self.pool.status().waiting == 0
            && self.pool.manager().live() > 1
        {
            Counters::bump(&self.counters.handed_off);
            tracing::debug!(
                tenant = %tenant,
                target_db = %self.url,
                "closing a returned connection: another pool on this server waits for a permit"
            );
            drop(Object::take(obj));
            return;
        }
        obj.returned_at = Instant::now();
        if let Some(affinity) = self.affinity.as_ref().filter(|a| !a.is_empty()) {
            let schema = obj.schema.clone();
            match affinity.offer(obj, schema.as_ref(), &mut share) {
                Offer::Taken { same_schema } => {
                    if same_schema {
                        Counters::bump(&self.counters.affinity_handoffs);
                    }
                    return;
                }
                Offer::Declined(declined) => obj = declined,
            }
        }
        drop(obj);
        if self.budget.has_waiters() {
            self.pool.manager().notify_returned();
        }
    }

    /// Warns about (and counts) every connection of this pool held past
    /// `pool.leak_warning_after` and not reported yet (see `held`).
    pub(crate) fn warn_held_too_long(&self) {
        if let Some(watch) = self.pool.manager().held() {
            watch.warn_overdue(&self.url, &self.counters);
        }
    }

    /// Counts a checkout towards the pool's heat.
    pub(crate) fn warm(&self) {
        // A heuristic for the budget's steal policy, so a plain load and store: an increment
        // lost to a concurrent checkout costs nothing, a locked read-modify-write would cost
        // every checkout.
        let heat = &self.heat;
        heat.store(
            heat.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// Closes idle connections unused for `idle_timeout` or older than `max_lifetime`.
    pub(crate) fn reap(&self, idle_timeout: Duration, max_lifetime: Duration) {
        // Not `status().available`: deadpool counts a checkout that is still creating its
        // connection as a user, so `available` can be 0 while idle connections sit in the pool.
        let now = Instant::now();
        let (mut idle, mut old) = (0, 0);
        let removed = self.pool.retain(|p, _| {
            if now.saturating_duration_since(p.created()) >= max_lifetime {
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
            self.counters.reaped_idle.fetch_add(idle, Ordering::Relaxed);
            self.counters
                .reaped_lifetime
                .fetch_add(old, Ordering::Relaxed);
            tracing::debug!(target_db = %self.url, idle, old, "reaped connections");
        }
    }

    /// Halves the checkout count, so that it weighs recent traffic.
    pub(crate) fn cool(&self) {
        let _ = self
            .heat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| Some(h / 2));
    }

    /// Connections checked out right now.
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

    fn owner(&self) -> Option<&TenantId> {
        self.owner.as_ref()
    }
}

impl<C: Backend> Drop for SharedPool<C> {
    fn drop(&mut self) {
        self.pool.close();
        Counters::bump(&self.counters.pools_closed);
        tracing::info!(
            tenant = self.owner.as_ref().map(tracing::field::display),
            target_db = %self.url,
            server = %self.budget.server(),
            "pool closed"
        );
    }
}

/// Stops the abandoned connection's statement on the server, then closes the connection.
///
/// The connection keeps its own permit until it is closed. When the stop request opens a
/// session of its own (MySQL's `KILL QUERY`), that session needs a second permit: it waits
/// for one only briefly, because with a full budget the wait could last as long as the
/// longest request on the server, and every checkout behind it would stall. Without a permit
/// the statement is not stopped: the connection is closed, and the server ends the statement
/// when it next notices the closed socket.
fn abandon<C: Backend>(
    pooled: Pooled<C>,
    cancel: BoxFuture<'static, ()>,
    budget: Arc<ServerBudget>,
    counters: Arc<Counters>,
) {
    let io = pooled.io().clone();
    io.handle().spawn(async move {
        let permit = if C::ABANDON_OPENS_SESSION {
            match tokio::time::timeout(
                ABANDON_PERMIT_WAIT,
                budget.acquire(&counters, Duration::ZERO),
            )
            .await
            {
                Ok(Ok(permit)) => Some(Some(permit)),
                _ => None,
            }
        } else {
            Some(None)
        };
        match permit {
            Some(permit) => {
                if tokio::time::timeout(ABANDON_TIMEOUT, cancel).await.is_err() {
                    tracing::debug!("stopping an abandoned statement timed out");
                }
                drop(permit);
            }
            None => tracing::debug!(
                "no budget permit to stop an abandoned statement: closing its connection only"
            ),
        }
        drop(pooled);
    });
}

/// How long a stop request that needs a session of its own waits for a budget permit.
const ABANDON_PERMIT_WAIT: Duration = Duration::from_millis(100);

/// How long stopping an abandoned statement may take before its connection is simply closed.
const ABANDON_TIMEOUT: Duration = Duration::from_secs(5);
