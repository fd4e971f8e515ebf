//! The cold start: a tenant that is not cached is started once, however many requests arrive
//! for it at the same moment.
//!
//! A start asks the directory where the tenant lives, finds or builds the pool for that
//! target, opens the first connection (and, in schema mode, checks the schema and switches to
//! it) and runs the start hook, all before the entry is cached: a tenant whose database or
//! schema is missing, or whose server is down, gets a typed error now and leaves no entry.
//!
//! - **Single flight.** The start runs as a task of its own on the I/O runtime, registered in
//!   an in-flight map keyed by tenant; every concurrent caller awaits the same shared future.
//!   A caller that gives up (a timeout, a dropped request) does not abort the start halfway;
//!   later callers join it, and the start hook runs on a multi-thread runtime.
//! - **Negative cache.** A failed start is remembered in a bounded cache for a backoff that
//!   doubles with each further failure, and its error is replayed to requests meanwhile
//!   without touching the directory or the database.
//! - **Admission.** Keys the directory does not list are refused before any of this (see
//!   `admission`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use moka::policy::EvictionPolicy;
use tracing::Instrument as _;

use super::cache::TenantCache;
use super::checkout::{checkout_raw, Waits, LOST_RETRIES};
use super::init::TenantInit;
use super::pools::Pools;
use crate::admission::{Admission, Verdict};
use crate::backend::Backend;
use crate::backoff::backoff_for;
use crate::connection::SetupFailure;
use crate::entry::TenantEntry;
use crate::lock::lock;
use crate::metrics::{Since, StartMetrics};
use crate::stats::Counters;
use crate::{
    BackendKind, ConfigError, Error, Isolation, PooledConnection, Settings, TenantDirectory,
    TenantId, TenantTarget,
};

type StartFuture<C> = Shared<BoxFuture<'static, Result<Arc<TenantEntry<C>>, Error>>>;

/// A remembered failed start.
struct Failure {
    error: Error,
    attempts: u32,
    until: Instant,
}

/// Everything a cold start needs, shared by the registry and its start tasks.
pub(super) struct Starts<C: Backend> {
    directory: Arc<dyn TenantDirectory>,
    admission: Admission,
    failures: moka::sync::Cache<TenantId, Arc<Failure>>,
    inflight: Mutex<HashMap<TenantId, StartFuture<C>>>,
    init: Option<Arc<dyn TenantInit<C>>>,
    cache: TenantCache<C>,
    pools: Arc<Pools<C>>,
    settings: Arc<Settings>,
    counters: Arc<Counters>,
    metrics: StartMetrics,
}

impl<C: Backend> Starts<C> {
    /// The directory tenants are looked up in.
    pub(super) fn directory(&self) -> &dyn TenantDirectory {
        &*self.directory
    }

    /// The directory, to be watched by a task of its own.
    pub(super) fn shared_directory(&self) -> Arc<dyn TenantDirectory> {
        self.directory.clone()
    }

    /// The directory's answer for `tenant` changed: drops its cached entry, its remembered
    /// failure and the directory's list. A start already running read the old answer, so its
    /// entry is dropped again when it ends.
    pub(super) fn forget(&self, tenant: &TenantId) {
        self.cache.invalidate(tenant);
        self.failures.invalidate(tenant);
        self.admission.forget_list();
        let running = lock(&self.inflight).get(tenant).cloned();
        if let Some(start) = running {
            let cache = self.cache.clone();
            let tenant = tenant.clone();
            self.pools.io().handle().spawn(async move {
                let _ = start.await;
                cache.invalidate(&tenant);
            });
        }
    }

    pub(super) fn new(
        directory: Arc<dyn TenantDirectory>,
        init: Option<Arc<dyn TenantInit<C>>>,
        cache: TenantCache<C>,
        pools: Arc<Pools<C>>,
        settings: Arc<Settings>,
        counters: Arc<Counters>,
    ) -> Self {
        let backoff = &settings.backoff;
        let failures = moka::sync::Cache::builder()
            .name("tenantpool-failures")
            .max_capacity(backoff.max_failed_tenants)
            .time_to_live(backoff.max.max(backoff.unknown_tenant_ttl) * 4)
            .eviction_policy(EvictionPolicy::lru())
            .build();
        Self {
            directory,
            admission: Admission::new(
                backoff.directory_refresh,
                backoff.unlisted_starts_per_second,
            ),
            failures,
            inflight: Mutex::new(HashMap::new()),
            init,
            cache,
            pools,
            settings,
            counters,
            metrics: StartMetrics::new(C::KIND),
        }
    }

    /// Expires remembered failures.
    pub(super) fn run_pending_tasks(&self) {
        self.failures.run_pending_tasks();
    }

    /// Starts a cold tenant, or joins the start already in flight for it.
    pub(super) async fn entry_cold(
        self: &Arc<Self>,
        tenant: &TenantId,
    ) -> Result<Arc<TenantEntry<C>>, Error> {
        if let Some(failure) = self.failures.get(tenant) {
            let now = Instant::now();
            if failure.until > now {
                return Err(replay(&failure.error, failure.until - now));
            }
        }
        self.admit(tenant).await?;
        let start = {
            let mut inflight = lock(&self.inflight);
            if let Some(running) = inflight.get(tenant) {
                running.clone()
            } else {
                // The start task caches its entry before it leaves this map, so a caller that
                // missed the cache and finds no start in flight re-checks the cache here,
                // under the same lock, instead of starting the tenant twice.
                if let Some(entry) = self.cache.get(tenant) {
                    return Ok(entry);
                }
                let shared = self.spawn_start(tenant);
                inflight.insert(tenant.clone(), shared.clone());
                shared
            }
        };
        let wait = self.settings.pool.start_timeout;
        tokio::time::timeout(wait, start).await.unwrap_or_else(|_| {
            Err(Error::Exhausted {
                tenant: tenant.clone(),
                waited: wait,
            })
        })
    }

    /// Refuses keys the directory does not list, and throttles starts of keys it cannot list.
    async fn admit(&self, tenant: &TenantId) -> Result<(), Error> {
        match self
            .admission
            .verdict(&*self.directory, tenant, &self.counters)
            .await
        {
            Verdict::Listed => Ok(()),
            Verdict::NotListed => {
                Counters::bump(&self.counters.unknown_rejected);
                Err(Error::UnknownTenant {
                    tenant: tenant.clone(),
                })
            }
            Verdict::Unlisted => {
                if !lock(&self.inflight).contains_key(tenant) {
                    if let Err(retry_after) = self.admission.admit() {
                        Counters::bump(&self.counters.throttled);
                        return Err(Error::Throttled {
                            tenant: tenant.clone(),
                            retry_after,
                        });
                    }
                }
                Ok(())
            }
        }
    }

    /// The start task of `tenant` on the I/O runtime, as a future every caller can await.
    fn spawn_start(self: &Arc<Self>, tenant: &TenantId) -> StartFuture<C> {
        let starts = self.clone();
        let key = tenant.clone();
        let span = tracing::info_span!("tenantpool.start", tenant = %tenant);
        let task = self.pools.io().handle().spawn(
            async move {
                let result = starts.start_and_cache(&key).await;
                lock(&starts.inflight).remove(&key);
                result
            }
            .instrument(span),
        );
        let failed = tenant.clone();
        async move {
            task.await.unwrap_or_else(|e| {
                Err(Error::Setup {
                    tenant: failed,
                    reason: format!("tenant start task failed: {e}"),
                })
            })
        }
        .boxed()
        .shared()
    }

    async fn start_and_cache(&self, tenant: &TenantId) -> Result<Arc<TenantEntry<C>>, Error> {
        let started = Instant::now();
        let since = Since::now();
        let result = self.start(tenant).await;
        self.metrics.ended(&since, result.is_ok());
        match &result {
            Ok(entry) => {
                if !self.cache.insert(tenant.clone(), entry.clone()) {
                    return Err(Error::Closed);
                }
                self.failures.invalidate(tenant);
                Counters::bump(&self.counters.tenants_started);
                tracing::info!(
                    target_db = %entry.pool().url,
                    server = %entry.pool().budget.server(),
                    schema = entry.schema().map(|s| s.as_str()),
                    elapsed = ?started.elapsed(),
                    "tenant started"
                );
            }
            Err(e) => {
                Counters::bump(&self.counters.tenants_failed);
                self.remember_failure(tenant, e);
                tracing::warn!(error = %e, "tenant failed to start");
            }
        }
        result
    }

    fn remember_failure(&self, tenant: &TenantId, error: &Error) {
        let backoff = &self.settings.backoff;
        let attempts = self.failures.get(tenant).map_or(0, |f| f.attempts + 1);
        let wait = match error {
            Error::UnknownTenant { .. } | Error::Suspended { .. } => backoff.unknown_tenant_ttl,
            // Not `Unavailable`: a down server is remembered per server (its budget fails fast
            // for a short backoff), so that every tenant on it recovers as soon as it is back.
            Error::DatabaseMissing { .. }
            | Error::Tls { .. }
            | Error::SchemaMissing { .. }
            | Error::Directory { .. }
            | Error::Setup { .. } => backoff_for(attempts, backoff.initial, backoff.max),
            _ => return,
        };
        self.failures.insert(
            tenant.clone(),
            Arc::new(Failure {
                error: error.clone(),
                attempts,
                until: Instant::now() + wait,
            }),
        );
    }

    /// Starts a tenant: directory, pool, first connection, schema, start hook.
    async fn start(&self, tenant: &TenantId) -> Result<Arc<TenantEntry<C>>, Error> {
        Counters::bump(&self.counters.directory_lookups);
        let target = self
            .directory
            .lookup(tenant)
            .await
            .map_err(|e| Error::Directory {
                tenant: tenant.clone(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| Error::UnknownTenant {
                tenant: tenant.clone(),
            })?;
        // Before any pool or connection: a suspended tenant's database is not touched.
        if target.suspended {
            return Err(Error::Suspended {
                tenant: tenant.clone(),
            });
        }
        check_supported::<C>(&target)?;
        let pool = self
            .pools
            .pool_for(tenant, &target)
            .map_err(|e| Error::Setup {
                tenant: tenant.clone(),
                reason: e,
            })?;
        let entry = Arc::new(TenantEntry::new(tenant, &target, pool, &self.settings.pool));

        let mut retries = 0;
        let conn = loop {
            let mut conn = checkout_raw(entry.clone(), Waits::NotCounted).await?;
            match prepare_first(&mut conn, tenant, &target).await {
                Ok(()) => break conn,
                Err(failure) if failure.lost && retries < LOST_RETRIES => {
                    retries += 1;
                    Counters::bump(&self.counters.lost_before_handover);
                    entry.pool().suspect_idle();
                    tracing::info!(
                        retries,
                        "the first connection was lost before the start used it; trying another"
                    );
                }
                Err(failure) => return Err(failure.error),
            }
        };
        match &self.init {
            Some(init) => init
                .init(tenant.clone(), conn)
                .await
                .map_err(|e| Error::Setup {
                    tenant: tenant.clone(),
                    reason: target.url.redact(&format!("tenant start hook failed: {e}")),
                })?,
            None => drop(conn),
        }
        Ok(entry)
    }
}

/// In schema mode, checks (or creates) the tenant's schema on the start's first connection and
/// switches to it.
async fn prepare_first<C: Backend>(
    conn: &mut PooledConnection<C>,
    tenant: &TenantId,
    target: &TenantTarget,
) -> Result<(), SetupFailure> {
    let Isolation::Schema(schema) = &target.isolation else {
        return Ok(());
    };
    let exists = match Backend::ensure_schema(&mut **conn, schema, target.create_missing).await {
        Ok(exists) => exists,
        Err(e) => return Err(conn.setup_failed(&format!("checking schema {schema}"), &e)),
    };
    if !exists {
        return Err(SetupFailure {
            lost: false,
            error: Error::SchemaMissing {
                tenant: tenant.clone(),
                schema: schema.clone(),
            },
        });
    }
    conn.switch_to(schema).await
}

/// Refuses a target this registry's backend cannot serve.
fn check_supported<C: Backend>(target: &TenantTarget) -> Result<(), Error> {
    let unsupported = |reason: String| {
        Err(Error::Config(ConfigError::Unsupported {
            target: target.url.to_string(),
            reason,
        }))
    };
    if target.url.kind() != C::KIND {
        return unsupported(format!(
            "this registry serves {} connections, the target is {}",
            C::KIND,
            target.url.kind()
        ));
    }
    if C::KIND == BackendKind::Sqlite && target.isolation != Isolation::Database {
        return unsupported("SQLite has no schemas: give each tenant its own file".into());
    }
    Ok(())
}

/// A remembered failure as it is replayed, with an up-to-date `Retry-After`.
fn replay(error: &Error, remaining: Duration) -> Error {
    match error {
        Error::Unavailable {
            tenant,
            server,
            reason,
            ..
        } => Error::Unavailable {
            tenant: tenant.clone(),
            server: server.clone(),
            reason: reason.clone(),
            retry_after: remaining.max(Duration::from_secs(1)),
        },
        other => other.clone(),
    }
}
