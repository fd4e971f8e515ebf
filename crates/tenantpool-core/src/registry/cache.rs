//! The tenant cache: tenant key → cached entry, with idle expiry, a bound, and eviction that
//! releases the entry's hold on its pool.
//!
//! moka's sync cache holds `Arc<TenantEntry>`. Its eviction listener only drops the entry: the
//! pool closes if that was its last user (see `pool`). moka is built with an LRU policy, since
//! the default TinyLFU admission may refuse a brand-new entry and report it as evicted, which
//! would close a pool that was just built.
//!
//! A closed cache (after `Registry::shutdown`) takes no new entries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use crate::backend::Backend;
use crate::config::CacheSettings;
use crate::entry::TenantEntry;
use crate::stats::Counters;
use crate::TenantId;

/// Only tenants the directory vouched for are cached, so the keys are not an attacker's to
/// choose: a fast, randomly seeded hasher instead of SipHash. (The failure cache, whose keys
/// anyone can send, keeps SipHash.)
type TenantHasher = foldhash::fast::RandomState;

/// The cache of started tenants. Cloning shares it.
pub(super) struct TenantCache<C: Backend> {
    cache: Cache<TenantId, Arc<TenantEntry<C>>, TenantHasher>,
    closed: Arc<AtomicBool>,
}

impl<C: Backend> Clone for TenantCache<C> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            closed: self.closed.clone(),
        }
    }
}

impl<C: Backend> TenantCache<C> {
    pub(super) fn new(settings: &CacheSettings, counters: Arc<Counters>) -> Self {
        let cache = Cache::builder()
            .name("tenantpool-tenants")
            .max_capacity(settings.max_tenants)
            .time_to_idle(settings.time_to_idle)
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(
                move |tenant: Arc<TenantId>, entry: Arc<TenantEntry<C>>, cause| {
                    if cause != RemovalCause::Replaced {
                        Counters::bump(&counters.tenants_evicted);
                    }
                    tracing::info!(
                        tenant = %tenant,
                        cause = ?cause,
                        target_db = %entry.pool().url,
                        server = %entry.pool().budget.server(),
                        "tenant evicted"
                    );
                    // Releases the entry's hold on its pool, which closes if this was its
                    // last user.
                    drop(entry);
                },
            )
            .build_with_hasher(TenantHasher::default());
        Self {
            cache,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The cached entry of `tenant`.
    #[inline]
    pub(super) fn get(&self, tenant: &TenantId) -> Option<Arc<TenantEntry<C>>> {
        self.cache.get(tenant)
    }

    /// Caches a started tenant; false (and nothing cached) once the cache is closed.
    pub(super) fn insert(&self, tenant: TenantId, entry: Arc<TenantEntry<C>>) -> bool {
        if self.is_closed() {
            return false;
        }
        self.cache.insert(tenant, entry);
        true
    }

    pub(super) fn invalidate(&self, tenant: &TenantId) {
        self.cache.invalidate(tenant);
    }

    /// Empties the cache for good: every entry goes, and none is taken after this.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
    }

    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(super) fn contains(&self, tenant: &TenantId) -> bool {
        self.cache.contains_key(tenant)
    }

    /// Every cached tenant's entry, without touching its idle timer or its rank in the LRU
    /// order (reading stats must not keep a tenant alive).
    pub(super) fn entries(&self) -> impl Iterator<Item = Arc<TenantEntry<C>>> + '_ {
        self.cache.iter().map(|(_, entry)| entry)
    }

    /// The cached entry of `tenant`, like [`entries`](Self::entries) without touching its
    /// idle timer: a scan (moka has no such lookup), done only when the tenant is cached.
    pub(super) fn peek(&self, tenant: &TenantId) -> Option<Arc<TenantEntry<C>>> {
        if !self.cache.contains_key(tenant) {
            return None;
        }
        self.cache
            .iter()
            .find_map(|(key, entry)| (*key == *tenant).then_some(entry))
    }

    /// Tenants cached (as of the last maintenance).
    pub(super) fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Applies pending expirations and evictions, notifying the listener.
    pub(super) fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }
}
