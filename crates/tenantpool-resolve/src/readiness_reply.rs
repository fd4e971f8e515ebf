//! [`ReadinessChecks`] and [`ReadinessReply`]: what a readiness endpoint answers, decided once
//! for every framework.
//!
//! 200 with the [`Readiness`] JSON while every registry is ready; 503 with the same JSON
//! (its `reasons` say what is wrong) and `Retry-After` otherwise. The endpoint is meant for a
//! load balancer, so it takes no token: the body names database servers (`scheme://host:port`)
//! and says what is wrong with them in general terms, and never carries a password, a database
//! name, a tenant or a driver's message.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tenantpool_core::{Backend, Readiness, Registry};

use crate::error_reply::retry_after_secs;

/// How long a client should wait before asking again: a probe's outcome answers the calls of
/// the next second anyway.
const RETRY_AFTER: Duration = Duration::from_secs(1);

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync;

/// The registries a readiness endpoint reports on.
///
/// ```no_run
/// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
/// let checks = tenantpool_resolve::ReadinessChecks::new().registry(registry);
/// let reply = checks.reply().await;
/// assert_eq!(reply.status, if reply.body.ready { 200 } else { 503 });
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ReadinessChecks {
    registries: Vec<Arc<CheckFn>>,
}

impl std::fmt::Debug for ReadinessChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadinessChecks")
            .field("registries", &self.registries.len())
            .finish()
    }
}

impl ReadinessChecks {
    /// No registry yet: ready.
    ///
    /// ```
    /// let checks = tenantpool_resolve::ReadinessChecks::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports on `registry` too: the endpoint is ready only when every registry is.
    ///
    /// ```no_run
    /// # fn f(primary: tenantpool_core::Registry<tenantpool_core::SqliteConnection>, replica: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
    /// let checks = tenantpool_resolve::ReadinessChecks::new().registry(primary).registry(replica);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, registry: Registry<C>) -> Self {
        self.registries.push(Arc::new(move || {
            let registry = registry.clone();
            Box::pin(async move { registry.readiness().await })
        }));
        self
    }

    /// Asks every registry (at once) and decides the reply.
    ///
    /// ```no_run
    /// # async fn f(checks: tenantpool_resolve::ReadinessChecks) {
    /// let reply = checks.reply().await;
    /// # }
    /// ```
    pub async fn reply(&self) -> ReadinessReply {
        let parts =
            futures_util::future::join_all(self.registries.iter().map(|check| check())).await;
        ReadinessReply::from_readiness(Readiness::combine(parts))
    }
}

/// A readiness endpoint's response, framework-free: adapters turn it into their own type.
///
/// ```
/// let reply = tenantpool_resolve::ReadinessReply::from_readiness(tenantpool_core::Readiness::new(vec![], vec![]));
/// assert_eq!((reply.status, reply.retry_after), (200, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadinessReply {
    /// 200 when ready, 503 otherwise.
    pub status: u16,
    /// The JSON body.
    pub body: Readiness,
    /// Whole seconds for a `Retry-After` header, on 503 only.
    pub retry_after: Option<u64>,
}

impl ReadinessReply {
    /// The reply to a readiness report.
    ///
    /// ```
    /// let reply = tenantpool_resolve::ReadinessReply::from_readiness(tenantpool_core::Readiness::new(vec![], vec![]));
    /// assert!(reply.body.ready);
    /// ```
    pub fn from_readiness(body: Readiness) -> Self {
        if body.ready {
            Self {
                status: 200,
                body,
                retry_after: None,
            }
        } else {
            Self {
                status: 503,
                body,
                retry_after: Some(retry_after_secs(RETRY_AFTER)),
            }
        }
    }
}
