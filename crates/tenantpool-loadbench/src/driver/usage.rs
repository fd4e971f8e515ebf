//! A process's CPU time and context switches, read from /proc: the server's cost per request.

use serde::Serialize;

/// CPU time and context switches of a process (all its threads), from /proc.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
    /// Voluntary plus involuntary context switches, summed over threads.
    pub ctx_switches: u64,
}

impl Usage {
    /// The usage of process `pid` so far (all its threads); zero when it is gone.
    pub fn of(pid: Option<u32>) -> Self {
        let Some(pid) = pid else {
            return Self::default();
        };
        // SAFETY: sysconf has no memory-safety requirements.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may contain spaces) start at field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name.
        let cpu_s = (field(11) + field(12)) / ticks;
        let mut ctx_switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                for line in status.lines() {
                    if let Some(v) = line
                        .strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                    {
                        ctx_switches += v.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
        Self {
            cpu_s,
            ctx_switches,
        }
    }

    /// What was used between `earlier` and this reading.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            cpu_s: self.cpu_s - earlier.cpu_s,
            ctx_switches: self.ctx_switches.saturating_sub(earlier.ctx_switches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_uses_cpu_and_switches_context() {
        let pid = Some(std::process::id());
        let started = std::time::Instant::now();
        let mut usage = Usage::of(pid);
        // One clock tick is 10 ms: spin until the kernel has counted one (at most 2 s).
        while usage.cpu_s == 0.0 && started.elapsed().as_secs() < 2 {
            std::hint::black_box((0..10_000u64).sum::<u64>());
            usage = Usage::of(pid);
        }
        assert!(usage.cpu_s > 0.0);
        assert!(usage.ctx_switches > 0);
        assert_eq!(usage.since(usage).ctx_switches, 0);
        assert_eq!(Usage::of(None).ctx_switches, 0);
    }
}
