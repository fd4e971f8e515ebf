//! A cached tenant: what the registry keeps per tenant between requests.
//!
//! A [`TenantEntry`] holds its pool through a [`TenantHold`] (one strong reference, counted
//! in the pool's tenant count for stats), the schema its connections must be on, its fair
//! share of a pool it shares with other tenants, and its pressure counters. The tenant cache
//! holds entries by `Arc`, and so does every guard checked out for the tenant, so the pool
//! outlives both.
//!
//! The entry's reference count is also the count of its connections in use. Every `Arc` of an
//! entry is one of:
//!
//! - the tenant cache's (one, while the entry is cached);
//! - a checkout's, from the cache lookup until the checkout fails or moves it into its guard
//!   (a checkout waiting for a connection is counted apart, in its `Pressure`);
//! - a guard's (one per connection checked out);
//! - short-lived ones around a start (the start task's, until it returns) and whoever reads
//!   the figures.
//!
//! So the connections in use are the references less the cache's, the reader's and the
//! waiting checkouts, read at snapshot time for free; a checkout pays nothing to be counted.
//! Code that keeps an entry's `Arc` anywhere else breaks this count (the stats tests catch it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::backend::Backend;
use crate::config::PoolSettings;
use crate::pool::SharedPool;
use crate::pressure::{Pressure, TenantStats};
use crate::{SchemaName, TenantId, TenantTarget};

/// A cached tenant: its pool, its schema and its fair share.
pub(crate) struct TenantEntry<C: Backend> {
    tenant: TenantId,
    hold: TenantHold<C>,
    schema: Option<SchemaName>,
    share: Option<Arc<Semaphore>>,
    checkout_timeout: Duration,
    pressure: Pressure,
}

impl<C: Backend> TenantEntry<C> {
    /// The entry of `tenant` at `target`, served by `pool`.
    ///
    /// A tenant in a shared pool (schema mode) holds at most `tenant_max_in_use` of its
    /// connections at once (half the pool by default), so that one busy tenant cannot take
    /// them all, and no more than its own `max_size` override; a per-tenant
    /// `tenant_max_in_use` applies in any mode when it is below the pool size.
    pub(crate) fn new(
        tenant: &TenantId,
        target: &TenantTarget,
        pool: Arc<SharedPool<C>>,
        settings: &PoolSettings,
    ) -> Self {
        let max_size = pool.pool.status().max_size.max(1);
        let asked = target
            .overrides
            .tenant_max_in_use
            .or(settings.tenant_max_in_use);
        // In a shared pool a tenant's own `max_size` is the most it holds at once; the pool
        // keeps the registry's size whatever its tenants ask.
        let cap = match (pool.shared, target.overrides.max_size) {
            (true, Some(own)) => Some(asked.map_or(own, |a| a.min(own)).max(1)),
            _ => asked,
        };
        let share = match (pool.shared, cap) {
            (_, Some(cap)) if cap < max_size => Some(cap),
            (true, None) if max_size > 1 => Some(max_size.div_ceil(2)),
            _ => None,
        };
        Self {
            tenant: tenant.clone(),
            hold: TenantHold::new(pool),
            schema: target.isolation.schema().cloned(),
            share: share.map(|n| Arc::new(Semaphore::new(n))),
            checkout_timeout: target
                .overrides
                .checkout_timeout
                .unwrap_or(settings.checkout_timeout),
            pressure: Pressure::new(),
        }
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub(crate) fn pool(&self) -> &Arc<SharedPool<C>> {
        &self.hold.0
    }

    pub(crate) fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }

    /// The tenant's fair share of a shared pool, when it has one.
    pub(crate) fn share(&self) -> Option<&Arc<Semaphore>> {
        self.share.as_ref()
    }

    /// How long a checkout of this tenant may wait in all.
    pub(crate) fn checkout_timeout(&self) -> Duration {
        self.checkout_timeout
    }

    /// The tenant's pressure counters.
    pub(crate) fn pressure(&self) -> &Pressure {
        &self.pressure
    }

    /// The tenant's figures now, read through `this`, a reference of the reader's own to a
    /// cached entry (see the module docs for how the connections in use are counted).
    pub(crate) fn stats(this: &Arc<Self>) -> TenantStats {
        // The cache's reference and the reader's.
        const NOT_IN_USE: usize = 2;
        let pressure = &this.pressure;
        let in_use = Arc::strong_count(this)
            .saturating_sub(NOT_IN_USE)
            .saturating_sub(pressure.waiting());
        pressure.stats(&this.tenant, &this.pool().url, in_use)
    }
}

/// Counts the tenants that point at a pool for as long as the entry lives.
pub(crate) struct TenantHold<C: Backend>(Arc<SharedPool<C>>);

impl<C: Backend> TenantHold<C> {
    fn new(pool: Arc<SharedPool<C>>) -> Self {
        pool.tenants.fetch_add(1, Ordering::Relaxed);
        Self(pool)
    }
}

impl<C: Backend> Drop for TenantHold<C> {
    fn drop(&mut self) {
        self.0.tenants.fetch_sub(1, Ordering::Relaxed);
    }
}
