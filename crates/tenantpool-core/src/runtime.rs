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
