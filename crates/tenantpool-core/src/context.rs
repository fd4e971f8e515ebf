//! The current tenant of a task: set around a future, read anywhere below it, carried into
//! the tasks it spawns.
//!
//! A task-local value (tokio's `task_local!`), so it belongs to one task and its future only:
//! it does not leak into other tasks that happen to run on the same thread, and a spawned
//! task starts without one unless it is spawned with [`spawn`] / [`spawn_blocking`]. Code that
//! asks for it outside any context gets [`Error::NoTenantContext`], never some default tenant.

use std::future::Future;

use crate::{Error, TenantId};

tokio::task_local! {
    static CURRENT: TenantId;
}

/// Runs `future` with `tenant` as the current tenant.
///
/// Inside, [`current_tenant`] answers `tenant`, [`Registry::get_current`](crate::Registry::get_current)
/// checks out one of its connections, and [`spawn`] carries it on. Contexts nest: an inner
/// `with_tenant` wins until its future ends.
///
/// ```
/// use tenantpool_core::{current_tenant, with_tenant, TenantId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantId::parse("acme")?;
/// let seen = with_tenant(acme.clone(), async { current_tenant() }).await?;
/// assert_eq!(seen, acme);
/// assert!(current_tenant().is_err());
/// # Ok(()) }
/// ```
pub fn with_tenant<F: Future>(tenant: TenantId, future: F) -> WithTenant<F> {
    CURRENT.scope(tenant, future)
}

/// The future [`with_tenant`] returns: `future` run with a current tenant. A named type, so
/// that middleware can return it without boxing (one allocation less per request).
///
/// ```
/// use std::future::Ready;
/// use tenantpool_core::{with_tenant, TenantId, WithTenant};
///
/// fn in_context(tenant: TenantId) -> WithTenant<Ready<u8>> {
///     with_tenant(tenant, std::future::ready(7))
/// }
/// let _future = TenantId::parse("acme").map(in_context);
/// ```
pub type WithTenant<F> = tokio::task::futures::TaskLocalFuture<TenantId, F>;

/// Runs `f` synchronously with `tenant` as the current tenant (for blocking code, which has no
/// task of its own).
///
/// ```
/// use tenantpool_core::{current_tenant, with_tenant_sync, TenantId};
/// let acme = TenantId::parse("acme")?;
/// assert_eq!(with_tenant_sync(acme.clone(), current_tenant)?, acme);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn with_tenant_sync<R>(tenant: TenantId, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(tenant, f)
}

/// The current tenant.
///
/// # Errors
///
/// [`Error::NoTenantContext`] outside [`with_tenant`], [`with_tenant_sync`] and the web
/// adapters' tenant middleware.
///
/// ```
/// use tenantpool_core::{current_tenant, Error};
/// assert!(matches!(current_tenant(), Err(Error::NoTenantContext)));
/// ```
pub fn current_tenant() -> Result<TenantId, Error> {
    CURRENT
        .try_with(TenantId::clone)
        .map_err(|_| Error::NoTenantContext)
}

/// Spawns `future` on the current tokio runtime with the current tenant as its context.
///
/// # Errors
///
/// [`Error::NoTenantContext`] when called outside a tenant's context: nothing is spawned.
///
/// # Panics
///
/// As [`tokio::spawn`], outside a tokio runtime.
///
/// ```
/// use tenantpool_core::{current_tenant, spawn, with_tenant, TenantId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantId::parse("acme")?;
/// let handle = with_tenant(acme.clone(), async { spawn(async { current_tenant() }) }).await?;
/// assert_eq!(handle.await??, acme);
/// # Ok(()) }
/// ```
pub fn spawn<F>(future: F) -> Result<tokio::task::JoinHandle<F::Output>, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tenant = current_tenant()?;
    Ok(tokio::spawn(with_tenant(tenant, future)))
}

/// Runs `f` on tokio's blocking pool with the current tenant as its context.
///
/// # Errors
///
/// [`Error::NoTenantContext`] when called outside a tenant's context: nothing is run.
///
/// ```
/// use tenantpool_core::{current_tenant, spawn_blocking, with_tenant, TenantId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantId::parse("acme")?;
/// let handle = with_tenant(acme.clone(), async { spawn_blocking(current_tenant) }).await?;
/// assert_eq!(handle.await??, acme);
/// # Ok(()) }
/// ```
pub fn spawn_blocking<F, R>(f: F) -> Result<tokio::task::JoinHandle<R>, Error>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let tenant = current_tenant()?;
    Ok(tokio::task::spawn_blocking(move || {
        with_tenant_sync(tenant, f)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn contexts_nest_and_end_with_their_future() {
        let outer = with_tenant(key("outer"), async {
            let inner = with_tenant(key("inner"), async { current_tenant().unwrap() }).await;
            (inner, current_tenant().unwrap())
        })
        .await;
        assert_eq!(outer, (key("inner"), key("outer")));
        assert!(matches!(current_tenant(), Err(Error::NoTenantContext)));
    }

    #[tokio::test]
    async fn a_plain_tokio_spawn_does_not_inherit_the_context() {
        let seen = with_tenant(key("acme"), async {
            tokio::spawn(async { current_tenant().is_ok() })
                .await
                .unwrap()
        })
        .await;
        assert!(
            !seen,
            "a task spawned without tenantpool::spawn saw a tenant"
        );
    }

    #[tokio::test]
    async fn spawning_outside_a_context_is_refused_and_runs_nothing() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let spawned = spawn(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) });
        assert!(matches!(spawned, Err(Error::NoTenantContext)));
        assert!(matches!(spawn_blocking(|| ()), Err(Error::NoTenantContext)));
        tokio::task::yield_now().await;
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_tasks_each_keep_their_own_tenant() {
        let mut handles = Vec::new();
        for i in 0..64 {
            let tenant = key(&format!("t{i}"));
            handles.push(tokio::spawn(with_tenant(tenant.clone(), async move {
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                    assert_eq!(current_tenant().unwrap(), tenant);
                }
                spawn(async { current_tenant().unwrap() })
                    .unwrap()
                    .await
                    .unwrap()
                    == tenant
            })));
        }
        for h in handles {
            assert!(h.await.unwrap());
        }
    }
}
