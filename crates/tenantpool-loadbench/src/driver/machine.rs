//! The machine the numbers come from, as the report's header states it.

use serde::Serialize;

/// The machine and the PostgreSQL server of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory, GiB (one decimal).
    pub memory_gib: f64,
    /// Linux kernel release.
    pub kernel: String,
    /// PostgreSQL's `version()`.
    pub postgres: String,
    /// `/proc/loadavg` when the run started.
    pub loadavg_at_start: String,
}

impl Machine {
    /// Reads /proc; `postgres` is the server's `version()`. Unreadable fields stay empty.
    pub fn read(postgres: String) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let mem_kib: u64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        Self {
            cpu,
            cores,
            memory_gib: (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel,
            postgres,
            loadavg_at_start: read("/proc/loadavg").trim().to_string(),
        }
    }

    /// PostgreSQL's version without the build details (`PostgreSQL 15.20 (Debian ...)`).
    pub fn postgres_short(&self) -> &str {
        self.postgres.split(" on ").next().unwrap_or_default()
    }
}
