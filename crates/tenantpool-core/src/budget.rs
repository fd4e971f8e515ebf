//! Connection budgets: a cap on open connections per database server, across all pools.
//!
//! A connection takes a permit from its server's budget *before* its connect starts and gives
//! it back only when it is closed (for PostgreSQL, when its driver task has closed the socket).
//! The permit lives inside the connection, so no path can forget to return it.
//!
//! When the budget is full, a creator first closes an idle connection on the server (a
//! *steal*: the idle connection of the least busy pool, the requester's own included, the
//! longest idle among equals), then waits, retrying the steal while it waits. While creators
//! wait, a guard that returns a connection to a pool nobody is waiting on closes it instead
//! (see `SharedPool::put_back`), so that its permit passes to the waiter instead of sitting
//! idle.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backoff::backoff_for;
use crate::capacity::CapacityCheck;
use crate::lock::lock;
use crate::readiness::ServerSignals;
use crate::stats::Counters;
use crate::{ServerKey, TenantId};

/// Proof that a connection may be open: one unit of its server's budget.
///
/// Dropping it gives the unit back. Backends keep it alive exactly as long as the server-side
/// connection exists.
///
/// ```no_run
/// # fn keep(_: tenantpool_core::backend::ConnectionPermit) {}
/// // Backends receive a permit in `Backend::connect` and keep it with the connection.
/// ```
#[derive(Debug)]
pub struct ConnectionPermit {
    _permit: OwnedSemaphorePermit,
}

impl ConnectionPermit {
    /// A permit of no server budget, for the catalog's own connection (one per process,
    /// outside the tenants' budgets: see `catalog`).
    pub(crate) fn unbudgeted() -> Self {
        let semaphore = Arc::new(Semaphore::new(1));
        match semaphore.try_acquire_owned() {
            Ok(permit) => Self { _permit: permit },
            // A fresh semaphore of one permit always has it.
            Err(_) => unreachable!("a new semaphore has its permit"),
        }
    }
}

/// A turn to connect: at most `budget.max_concurrent_connects` connects run at once per
/// server. Held from before the budget permit is taken until the connect has finished.
#[derive(Debug)]
pub(crate) struct ConnectTurn {
    _turn: Option<OwnedSemaphorePermit>,
}

/// Something that holds idle connections on a server and can close one of them.
pub(crate) trait IdleSource: Send + Sync {
    /// When the least recently returned idle connection was returned, if any is idle.
    fn oldest_idle(&self) -> Option<Instant>;
    /// How busy the pool has been lately (checkouts, decaying by half every maintenance
    /// pass): the least busy pool gives up its idle connection first.
    fn heat(&self) -> u64;
    /// Closes one idle connection returned at or before `at`; true when one was closed.
    fn close_idle_at(&self, at: Instant) -> bool;
    /// A masked description of the pool, for logs.
    fn describe(&self) -> String;
    /// The tenant the pool serves alone (database mode), for logs.
    fn owner(&self) -> Option<&TenantId>;
}

/// The budget of one database server.
pub(crate) struct ServerBudget {
    server: ServerKey,
    limit: usize,
    semaphore: Arc<Semaphore>,
    waiters: AtomicUsize,
    members: Mutex<Vec<Weak<dyn IdleSource>>>,
    steal_retry: Duration,
    connects: Option<Arc<Semaphore>>,
    health: Mutex<Health>,
    consecutive_failures: AtomicU32,
    backoff_initial: Duration,
    backoff_max: Duration,
    signals: ServerSignals,
    capacity: CapacityCheck,
}

#[derive(Default)]
struct Health {
    down_until: Option<Instant>,
    last_error: String,
}

/// Why a permit could not be had.
#[derive(Debug, Clone)]
pub(crate) enum BudgetError {
    /// The server failed recently; creators fail fast until `retry_after` has passed.
    ServerDown {
        reason: String,
        retry_after: Duration,
    },
    /// The budget was closed (shutdown).
    Closed,
}

impl ServerBudget {
    pub(crate) fn new(
        server: ServerKey,
        limit: usize,
        replicas: usize,
        steal_retry: Duration,
        max_concurrent_connects: usize,
        backoff: (Duration, Duration),
    ) -> Self {
        Self {
            server,
            limit,
            semaphore: Arc::new(Semaphore::new(limit)),
            waiters: AtomicUsize::new(0),
            members: Mutex::new(Vec::new()),
            steal_retry,
            connects: (max_concurrent_connects > 0)
                .then(|| Arc::new(Semaphore::new(max_concurrent_connects))),
            health: Mutex::new(Health::default()),
            consecutive_failures: AtomicU32::new(0),
            backoff_initial: backoff.0,
            backoff_max: backoff.1,
            signals: ServerSignals::new(),
            capacity: CapacityCheck::new(replicas, limit),
        }
    }

    /// The check of what the server accepts against the service's budget for it.
    pub(crate) fn capacity(&self) -> &CapacityCheck {
        &self.capacity
    }

    pub(crate) fn server(&self) -> &ServerKey {
        &self.server
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The server's readiness facts (see `readiness`).
    pub(crate) fn signals(&self) -> &ServerSignals {
        &self.signals
    }

    /// Since when the budget has been exhausted, if it still is: an exhaustion that nobody
    /// waits on any more while a permit is free has ended, even if no creator came to say so.
    pub(crate) fn exhausted_since(&self) -> Option<Instant> {
        if self.semaphore.available_permits() > 0 && !self.has_waiters() {
            self.signals.freed();
        }
        self.signals.exhausted_since()
    }

    /// A permit if one is free now: no wait, no steal. For a readiness probe, which must stay
    /// within the budget and must not take a connection from anyone.
    pub(crate) fn try_acquire_now(&self) -> Option<ConnectionPermit> {
        self.semaphore
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|permit| ConnectionPermit { _permit: permit })
    }

    /// Connections open (or connecting) on this server right now.
    pub(crate) fn open(&self) -> usize {
        self.limit
            .saturating_sub(self.semaphore.available_permits())
    }

    /// The first fail-fast window after a failed connect: the `Retry-After` of a connect
    /// failure.
    pub(crate) fn backoff_initial(&self) -> Duration {
        self.backoff_initial
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::Acquire)
    }

    /// True while some creator on this server waits for a permit.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    pub(crate) fn join(&self, member: Weak<dyn IdleSource>) {
        let mut members = lock(&self.members);
        members.retain(|m| m.strong_count() > 0);
        members.push(member);
    }

    pub(crate) fn prune(&self) {
        lock(&self.members).retain(|m| m.strong_count() > 0);
    }

    /// Waits for a turn to connect (see [`ConnectTurn`]). Connects beyond the server's
    /// capacity to accept them only queue at its door while holding budget permits, so a
    /// creator takes its turn first and its permit second. Counts as waiting on the budget.
    pub(crate) async fn connect_turn(&self) -> Result<ConnectTurn, BudgetError> {
        self.check_health()?;
        let Some(connects) = &self.connects else {
            return Ok(ConnectTurn { _turn: None });
        };
        if let Ok(turn) = connects.clone().try_acquire_owned() {
            return Ok(ConnectTurn { _turn: Some(turn) });
        }
        let _waiting = WaiterGuard::new(&self.waiters);
        connects
            .clone()
            .acquire_owned()
            .await
            .map(|turn| ConnectTurn { _turn: Some(turn) })
            .map_err(|_| BudgetError::Closed)
    }

    /// Takes a permit for a new connection, stealing an idle connection when the budget is
    /// full, and waiting otherwise. The caller bounds the wait (the checkout timeout); this
    /// future is cancel-safe.
    ///
    /// Only connections idle for at least `steal_idle_for` are stolen: zero for a pool that
    /// has no connection at all (a tenant that cannot be served otherwise), longer for a pool
    /// that only wants to grow, so that busy tenants do not trade connections back and forth.
    /// The steal considers every pool on the server, the requester's own included: a
    /// connection returned to the requester's pool after its creator started waiting would
    /// otherwise sit idle while the creator times out.
    pub(crate) async fn acquire(
        &self,
        counters: &Counters,
        steal_idle_for: Duration,
    ) -> Result<ConnectionPermit, BudgetError> {
        self.check_health()?;
        if let Ok(permit) = self.semaphore.clone().try_acquire_owned() {
            if !self.has_waiters() {
                self.signals.freed();
            }
            return Ok(ConnectionPermit { _permit: permit });
        }
        // The budget is full: readiness counts how long creators find it so. The exhaustion
        // ends when a permit is handed out and nobody waits any more; a waiter that gives up
        // (its checkout timed out) does not end it.
        self.signals.exhausted();
        let waiting = WaiterGuard::new(&self.waiters);
        let acquire = self.semaphore.clone().acquire_owned();
        tokio::pin!(acquire);
        loop {
            if self.steal_one(steal_idle_for) {
                Counters::bump(&counters.budget_steals);
            }
            tokio::select! {
                biased;
                permit = &mut acquire => {
                    drop(waiting);
                    if permit.is_ok() && !self.has_waiters() {
                        self.signals.freed();
                    }
                    return permit
                        .map(|p| ConnectionPermit { _permit: p })
                        .map_err(|_| BudgetError::Closed);
                }
                () = tokio::time::sleep(self.steal_retry) => {}
            }
        }
    }

    /// Closes one idle connection on this server that has been idle for at least `idle_for`:
    /// the least busy pool's longest idle one.
    fn steal_one(&self, idle_for: Duration) -> bool {
        let candidates: Vec<Arc<dyn IdleSource>> = lock(&self.members)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let now = Instant::now();
        // The idle connection of the least busy pool, the longest idle among equals: under a
        // skewed load, recency alone would evict a busy tenant's connection that happened to
        // be idle for a moment, and the tenant would pay a connect for it right after.
        let victim = candidates
            .iter()
            .filter_map(|m| m.oldest_idle().map(|at| (at, m)))
            .filter(|(at, _)| now.saturating_duration_since(*at) >= idle_for)
            .min_by_key(|(at, m)| (m.heat(), *at));
        let stolen = match victim {
            Some((at, source)) if source.close_idle_at(at) => {
                tracing::debug!(
                    server = %self.server,
                    victim = %source.describe(),
                    victim_tenant = source.owner().map(tracing::field::display),
                    "budget steal: closed an idle connection to make room"
                );
                true
            }
            _ => false,
        };
        drop(candidates);
        stolen
    }

    fn check_health(&self) -> Result<(), BudgetError> {
        let health = lock(&self.health);
        match health.down_until {
            Some(until) if until > Instant::now() => Err(BudgetError::ServerDown {
                reason: health.last_error.clone(),
                retry_after: until.saturating_duration_since(Instant::now()),
            }),
            _ => Ok(()),
        }
    }

    /// Records a failed connect: later creators fail fast for a backoff that doubles with
    /// each consecutive failure, up to the configured maximum.
    pub(crate) fn record_failure(&self, reason: &str) -> Duration {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel);
        let backoff = backoff_for(failures, self.backoff_initial, self.backoff_max);
        let mut health = lock(&self.health);
        health.down_until = Some(Instant::now() + backoff);
        health.last_error = reason.to_string();
        backoff
    }

    pub(crate) fn record_success(&self) {
        self.signals.accepted_now();
        if self.consecutive_failures.swap(0, Ordering::AcqRel) > 0 {
            lock(&self.health).down_until = None;
            tracing::info!(server = %self.server, "database server reachable again");
        }
    }
}

struct WaiterGuard<'a>(&'a AtomicUsize);

impl<'a> WaiterGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The budgets of every server a registry talks to.
///
/// One `Budgets` can be shared by several registries (a primary and a replica registry, or a
/// PostgreSQL and a MySQL registry) so that a server's cap holds across all of them.
///
/// ```
/// use tenantpool_core::config::BudgetSettings;
/// use tenantpool_core::Budgets;
///
/// let mut settings = BudgetSettings::default();
/// settings.servers.insert("postgres://127.0.0.1:5432".into(), 40);
/// let budgets = Budgets::new(settings);
/// assert_eq!(budgets.limit_for("postgres://127.0.0.1:5432"), 40);
/// assert_eq!(budgets.limit_for("mysql://db:3306"), 80);
/// ```
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<BudgetsInner>,
}

struct BudgetsInner {
    settings: crate::config::BudgetSettings,
    servers: Mutex<std::collections::HashMap<ServerKey, Arc<ServerBudget>>>,
}

impl Budgets {
    /// Budgets with these limits.
    ///
    /// ```
    /// let budgets = tenantpool_core::Budgets::new(Default::default());
    /// ```
    pub fn new(settings: crate::config::BudgetSettings) -> Self {
        Self {
            inner: Arc::new(BudgetsInner {
                settings,
                servers: Mutex::new(Default::default()),
            }),
        }
    }

    /// This process's cap for a server key (`scheme://host:port`): its share of the
    /// service's cap (`budget.replicas`).
    ///
    /// ```
    /// let mut settings = tenantpool_core::config::BudgetSettings::default();
    /// let budgets = tenantpool_core::Budgets::new(settings.clone());
    /// assert_eq!(budgets.limit_for("postgres://db:5432"), 80);
    /// settings.replicas = 4;
    /// assert_eq!(tenantpool_core::Budgets::new(settings).limit_for("postgres://db:5432"), 20);
    /// ```
    pub fn limit_for(&self, server: &str) -> usize {
        let s = &self.inner.settings;
        s.share(s.servers.get(server).copied().unwrap_or(s.max_connections))
    }

    pub(crate) fn for_server(&self, server: &ServerKey) -> Arc<ServerBudget> {
        let mut servers = lock(&self.inner.servers);
        servers
            .entry(server.clone())
            .or_insert_with(|| {
                let s = &self.inner.settings;
                Arc::new(ServerBudget::new(
                    server.clone(),
                    self.limit_for(server.as_str()),
                    s.replicas,
                    s.steal_retry,
                    s.max_concurrent_connects,
                    (s.server_backoff_initial, s.server_backoff_max),
                ))
            })
            .clone()
    }

    pub(crate) fn all(&self) -> Vec<Arc<ServerBudget>> {
        let mut all: Vec<_> = lock(&self.inner.servers).values().cloned().collect();
        all.sort_by(|a, b| a.server().cmp(b.server()));
        all
    }
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_count_open_connections_and_come_back_on_drop() {
        let budget = ServerBudget::new(
            ServerKey(Arc::from("postgres://h:1")),
            2,
            1,
            Duration::from_millis(5),
            0,
            (Duration::from_millis(10), Duration::from_millis(20)),
        );
        let counters = Counters::default();
        let a = budget.acquire(&counters, Duration::ZERO).await.unwrap();
        let _b = budget.acquire(&counters, Duration::ZERO).await.unwrap();
        assert_eq!(budget.open(), 2);
        let waiter = tokio::time::timeout(
            Duration::from_millis(50),
            budget.acquire(&counters, Duration::ZERO),
        )
        .await;
        assert!(waiter.is_err(), "a third permit was handed out");
        assert_eq!(budget.waiting(), 0, "a cancelled waiter still counts");
        drop(a);
        assert_eq!(budget.open(), 1);
        let _c = budget.acquire(&counters, Duration::ZERO).await.unwrap();
        assert_eq!(budget.open(), 2);
    }
}
