//! `[runtime]`: the I/O runtime that owns connections.

use serde::{Deserialize, Serialize};

/// The I/O runtime that owns connections (see [`IoRuntime`](crate::IoRuntime)).
///
/// ```
/// use tenantpool_core::config::RuntimeSettings;
///
/// assert_eq!(RuntimeSettings::default().io_threads, RuntimeSettings::default_io_threads());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Worker threads of the dedicated I/O runtime. Default: a quarter of the machine's
    /// cores, at least 1 (see [`RuntimeSettings::default_io_threads`]).
    pub io_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            io_threads: Self::default_io_threads(),
        }
    }
}

impl RuntimeSettings {
    /// The default size of the I/O runtime: a quarter of the machine's cores, at least 1.
    ///
    /// Every query wakes the I/O thread that drives its connection, and that thread wakes the
    /// worker with the answer. A second I/O thread shortens neither wake-up and adds its own
    /// (a tokio worker that finds work wakes an idle sibling to steal from it), so the runtime
    /// stays small; docs/benchmarks.md has the measurements behind the ratio.
    ///
    /// ```
    /// assert!(tenantpool_core::config::RuntimeSettings::default_io_threads() >= 1);
    /// ```
    pub fn default_io_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
    }
}
