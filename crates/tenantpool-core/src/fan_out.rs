//! Fan-out: one job per tenant, a bounded number at a time, each in its tenant's context.
//!
//! The jobs run as futures of the caller's task (no `'static` bound, no spawn): dropping the
//! fan-out's future cancels every job in flight, and each job's connections go back to their
//! pools through their guards, as on any cancellation. A job that fails or panics ends with
//! its own outcome; the others go on.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::{stream, FutureExt, StreamExt};

use crate::backend::Backend;
use crate::context::with_tenant;
use crate::{Error, Registry, TenantId};

/// How one tenant's job of a fan-out ended, when it did not return `Ok`.
///
/// ```
/// use tenantpool_core::FanOutError;
/// let e: FanOutError<std::io::Error> = FanOutError::Panicked("boom".into());
/// assert_eq!(e.to_string(), "the job panicked: boom");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum FanOutError<E> {
    /// The job returned this error.
    #[error("the job failed: {0}")]
    Failed(E),
    /// The job panicked, with this message; the fan-out caught it and went on.
    #[error("the job panicked: {0}")]
    Panicked(String),
}

/// One tenant's outcome in a fan-out.
///
/// ```
/// use tenantpool_core::{FanOutError, TenantId, TenantOutcome};
/// let o: TenantOutcome<u32, String> = TenantOutcome {
///     tenant: TenantId::parse("acme")?,
///     result: Err(FanOutError::Failed("no table".into())),
/// };
/// assert!(o.result.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TenantOutcome<T, E> {
    /// The tenant the job ran for.
    pub tenant: TenantId,
    /// What the job returned, or how it failed.
    pub result: Result<T, FanOutError<E>>,
}

impl<C: Backend> Registry<C> {
    /// Runs `job` once for each of `tenants`, at most `concurrency` at a time, each inside
    /// [`with_tenant`](crate::with_tenant) for its tenant (so the job takes its connection with
    /// [`get_current`](Self::get_current), or [`get`](Self::get) with the key it is given).
    ///
    /// `concurrency` is clamped to 1..=`budget.max_connections`: more jobs at once than the
    /// budget could only wait. In schema mode, where every tenant shares one pool, a value
    /// above the pool's `max_size` makes jobs wait for connections up to `checkout_timeout`.
    ///
    /// Outcomes come in the order jobs finish, one per tenant given. A failing or panicking
    /// job does not stop the others. Dropping the returned future cancels the jobs in flight
    /// and starts no more.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) -> Result<(), tenantpool_core::Error> {
    /// use diesel_async::RunQueryDsl;
    /// let registry2 = registry.clone();
    /// let outcomes = registry
    ///     .fan_out(registry.tenants().await?, 8, |_tenant| {
    ///         let registry = registry2.clone();
    ///         async move {
    ///             let mut conn = registry.get_current().await?;
    ///             diesel::sql_query("DELETE FROM sessions WHERE expires < now()")
    ///                 .execute(&mut conn)
    ///                 .await
    ///                 .map_err(|e| tenantpool_core::BoxError::from(e))
    ///         }
    ///     })
    ///     .await;
    /// for o in outcomes.iter().filter(|o| o.result.is_err()) {
    ///     eprintln!("{}: {:?}", o.tenant, o.result);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fan_out<I, F, Fut, T, E>(
        &self,
        tenants: I,
        concurrency: usize,
        mut job: F,
    ) -> Vec<TenantOutcome<T, E>>
    where
        I: IntoIterator<Item = TenantId>,
        F: FnMut(TenantId) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let budget = &self.settings().budget;
        let limit = concurrency.clamp(1, budget.share(budget.max_connections));
        stream::iter(tenants)
            .map(|tenant| {
                // The call itself may panic before there is a future to catch it in.
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| job(tenant.clone())));
                async move {
                    let result = match started {
                        Ok(fut) => match AssertUnwindSafe(with_tenant(tenant.clone(), fut))
                            .catch_unwind()
                            .await
                        {
                            Ok(Ok(value)) => Ok(value),
                            Ok(Err(e)) => Err(FanOutError::Failed(e)),
                            Err(panic) => Err(FanOutError::Panicked(panic_message(&*panic))),
                        },
                        Err(panic) => Err(FanOutError::Panicked(panic_message(&*panic))),
                    };
                    if let Err(e) = &result {
                        tracing::debug!(tenant = %tenant, error = %FanOutFailure(e), "fan-out job failed");
                    }
                    TenantOutcome { tenant, result }
                }
            })
            .buffer_unordered(limit)
            .collect()
            .await
    }

    /// [`fan_out`](Self::fan_out) over every tenant the directory lists.
    ///
    /// # Errors
    ///
    /// [`Error::CannotList`] when the directory cannot list its tenants; no job runs then.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
    /// let outcomes = registry
    ///     .fan_out_all(4, |tenant| async move { Ok::<_, std::io::Error>(tenant.to_string()) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn fan_out_all<F, Fut, T, E>(
        &self,
        concurrency: usize,
        job: F,
    ) -> Result<Vec<TenantOutcome<T, E>>, Error>
    where
        F: FnMut(TenantId) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let tenants = self.tenants().await?;
        Ok(self.fan_out(tenants, concurrency, job).await)
    }
}

/// A job's failure for the log, without requiring `E: Display`.
struct FanOutFailure<'a, E>(&'a FanOutError<E>);

impl<E> std::fmt::Display for FanOutFailure<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            FanOutError::Failed(_) => f.write_str("the job returned an error"),
            FanOutError::Panicked(message) => write!(f, "the job panicked: {message}"),
        }
    }
}

/// The message of a caught panic (`&str` and `String` payloads; other payloads are unnamed).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
