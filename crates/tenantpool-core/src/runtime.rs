//! Where connections live.
//!
//! actix-web runs each worker as its own current-thread tokio runtime. A PostgreSQL
//! connection's driver task, and the socket registration of any tokio connection, belong to
//! the runtime that opened it: a connection opened on worker 1 and used from worker 2 would be
//! driven by worker 1, and would break when worker 1 stops. So every connection is opened, and
//! every background task of the registry runs, on one small multi-thread runtime owned by the
//! registry (or on a runtime the application hands in). SQLite's blocking calls run on that
//! runtime's blocking pool.

use std::sync::{Arc, Mutex};

use tokio::runtime::{Handle, Runtime};

use crate::ConfigError;

/// The runtime that owns connection drivers, connects, SQLite's blocking work and the
/// maintenance task.
///
/// Cloning shares it. When the last clone of an owned runtime is dropped, the runtime is shut
/// down on a thread of its own, so dropping it inside an async context never panics.
///
/// ```
/// use tenantpool_core::IoRuntime;
///
/// let io = IoRuntime::dedicated(1)?;
/// let answer = io.handle().block_on(async { 42 });
/// assert_eq!(answer, 42);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct IoRuntime {
    handle: Handle,
    _owned: Option<Arc<OwnedRuntime>>,
}

struct OwnedRuntime(Mutex<Option<Runtime>>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        let runtime = match self.0.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(runtime) = runtime {
            // Dropping a runtime blocks and panics inside async contexts; a short-lived thread
            // of its own is the one place where neither matters.
            let spawned = std::thread::Builder::new()
                .name("tenantpool-io-shutdown".into())
                .spawn(move || runtime.shutdown_timeout(std::time::Duration::from_secs(1)));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot spawn a thread to shut the I/O runtime down");
            }
        }
    }
}

impl IoRuntime {
    /// Builds a dedicated multi-thread runtime with `worker_threads` threads (at least 1).
    ///
    /// ```
    /// let io = tenantpool_core::IoRuntime::dedicated(2)?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn dedicated(worker_threads: usize) -> Result<Self, ConfigError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("tenantpool-io")
            .enable_all()
            .build()
            .map_err(|e| ConfigError::Invalid {
                setting: "runtime.io_threads",
                reason: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(Self {
            handle: runtime.handle().clone(),
            _owned: Some(Arc::new(OwnedRuntime(Mutex::new(Some(runtime))))),
        })
    }

    /// Uses a runtime the application owns. It must be a multi-thread runtime with I/O and
    /// time enabled, and it must outlive every registry that uses it.
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let io = tenantpool_core::IoRuntime::from_handle(rt.handle().clone());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_handle(handle: Handle) -> Self {
        Self {
            handle,
            _owned: None,
        }
    }

    /// Uses the multi-thread runtime this is called from: the application's own runtime, for
    /// servers that already run on one (axum, `#[tokio::main]`), so that a checkout and the
    /// connection it hands out are driven by the same threads as the handler, with no hop to a
    /// runtime of the registry's own. The runtime must outlive every registry that uses it.
    ///
    /// Fails with [`ConfigError::Invalid`] outside a tokio runtime, and on a current-thread
    /// runtime (an actix-web worker, `#[tokio::test]` without `flavor = "multi_thread"`),
    /// where connections would stop being driven whenever that one thread is busy or gone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), tenantpool_core::ConfigError> {
    /// use tenantpool_core::IoRuntime;
    ///
    /// let io = IoRuntime::current()?;
    /// let answer = io.handle().spawn(async { 42 }).await;
    /// assert_eq!(answer.ok(), Some(42));
    /// # Ok(())
    /// # }
    /// ```
    pub fn current() -> Result<Self, ConfigError> {
        let handle = Handle::try_current().map_err(|_| ConfigError::Invalid {
            setting: "runtime",
            reason: "IoRuntime::current() was called outside a tokio runtime".into(),
        })?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(ConfigError::Invalid {
                setting: "runtime",
                reason: "IoRuntime::current() needs a multi-thread tokio runtime; on a \
                         current-thread runtime (an actix-web worker) use the registry's own"
                    .into(),
            });
        }
        Ok(Self::from_handle(handle))
    }

    /// The runtime's handle.
    ///
    /// ```
    /// let io = tenantpool_core::IoRuntime::dedicated(1)?;
    /// let _task = io.handle().spawn(async {});
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl std::fmt::Debug for IoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoRuntime")
            .field("owned", &self._owned.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_runtime_is_refused_outside_a_runtime_and_on_a_current_thread_one() {
        assert!(matches!(
            IoRuntime::current(),
            Err(ConfigError::Invalid { .. })
        ));
        let single = tokio::runtime::Builder::new_current_thread().build();
        let refused = single.map(|rt| rt.block_on(async { IoRuntime::current() }));
        assert!(matches!(refused, Ok(Err(ConfigError::Invalid { .. }))));
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build();
        let taken = multi
            .map(|rt| rt.block_on(async { IoRuntime::current().map(|io| io._owned.is_none()) }));
        assert!(
            matches!(taken, Ok(Ok(true))),
            "a multi-thread runtime is used, not owned"
        );
    }
}
