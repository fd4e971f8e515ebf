//! The registry's pools by target: tenants on the same target share one live pool.
//!
//! The map holds `Weak`s only, so it never keeps a pool open (see `pool`). A target is its
//! URL (credentials included, so tenants with different credentials never share) and its mode:
//! a database-mode tenant never receives a connection that was switched to some tenant's
//! schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::backend::Backend;
use crate::lock::lock;
use crate::metrics::PoolMetrics;
use crate::pool::SharedPool;
use crate::stats::Counters;
use crate::{
    Budgets, DatabaseUrl, IoRuntime, Isolation, ServerKey, Settings, TenantId, TenantTarget,
};

/// A pool's identity: its URL, and whether it is shared by schema-mode tenants.
type PoolKey = (DatabaseUrl, bool);

/// A server pools were built on.
struct Server {
    /// The target of the latest pool built on it, where readiness's probe connects.
    probe: DatabaseUrl,
    /// The histograms of its pools (nothing without the `metrics` feature).
    metrics: PoolMetrics,
}

/// Every live pool of a registry, and what new pools are built from.
pub(super) struct Pools<C: Backend> {
    map: Mutex<HashMap<PoolKey, Weak<SharedPool<C>>>>,
    /// Every server a pool was built on: what readiness checks, and the histograms its pools
    /// share. It outlives the pools (an idle service whose pools all closed is still checked)
    /// and holds one entry per server.
    servers: Mutex<HashMap<ServerKey, Server>>,
    budgets: Budgets,
    io: IoRuntime,
    counters: Arc<Counters>,
    settings: Arc<Settings>,
}

impl<C: Backend> Pools<C> {
    pub(super) fn new(
        budgets: Budgets,
        io: IoRuntime,
        counters: Arc<Counters>,
        settings: Arc<Settings>,
    ) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            servers: Mutex::new(HashMap::new()),
            budgets,
            io,
            counters,
            settings,
        }
    }

    /// The live pool for a target, or a new one.
    /// `tenant` is the tenant being started: it names a database-mode pool it opens in logs.
    pub(super) fn pool_for(
        &self,
        tenant: &TenantId,
        target: &TenantTarget,
    ) -> Result<Arc<SharedPool<C>>, String> {
        let key = (target.url.clone(), target.isolation != Isolation::Database);
        let mut map = lock(&self.map);
        if let Some(live) = map.get(&key).and_then(Weak::upgrade) {
            if !live.pool.is_closed() {
                return Ok(live);
            }
        }
        let server = target.url.server();
        let metrics = lock(&self.servers).get(server).map_or_else(
            || PoolMetrics::new(server, C::KIND),
            |known| known.metrics.clone(),
        );
        let pool = SharedPool::new(
            tenant,
            target,
            &self.settings,
            self.budgets.for_server(server),
            self.io.clone(),
            self.counters.clone(),
            metrics.clone(),
        )?;
        map.insert(key, Arc::downgrade(&pool));
        drop(map);
        lock(&self.servers)
            .entry(server.clone())
            .and_modify(|known| known.probe = target.url.clone())
            .or_insert(Server {
                probe: target.url.clone(),
                metrics,
            });
        Ok(pool)
    }

    /// Every server a pool was built on, sorted, with a target on it to probe.
    pub(super) fn servers(&self) -> Vec<(ServerKey, DatabaseUrl)> {
        let mut servers: Vec<_> = lock(&self.servers)
            .iter()
            .map(|(server, known)| (server.clone(), known.probe.clone()))
            .collect();
        servers.sort_by(|a, b| a.0.cmp(&b.0));
        servers
    }

    /// Hands what the servers' histograms counted without recording to the recorder (see
    /// [`PoolMetrics::flush`]).
    #[cfg(feature = "metrics")]
    pub(super) fn flush_metrics(&self) {
        for known in lock(&self.servers).values() {
            known.metrics.flush();
        }
    }

    /// Every pool that is still open.
    pub(super) fn live(&self) -> Vec<Arc<SharedPool<C>>> {
        lock(&self.map).values().filter_map(Weak::upgrade).collect()
    }

    /// The runtime that owns the pools' connections (and runs tenant starts).
    pub(super) fn io(&self) -> &IoRuntime {
        &self.io
    }

    pub(super) fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Reaps idle and old connections, cools every pool's heat, warns about connections held
    /// too long, prunes dead `Weak`s, dates the checkouts noted for readiness.
    pub(super) fn maintain(&self) {
        let pool = &self.settings.pool;
        for p in self.live() {
            p.reap(pool.idle_timeout, pool.max_lifetime);
            p.cool();
            p.warn_held_too_long();
        }
        lock(&self.map).retain(|_, p| p.strong_count() > 0);
        for budget in self.budgets.all() {
            budget.prune();
            budget.signals().absorb_checkouts();
        }
    }
}
