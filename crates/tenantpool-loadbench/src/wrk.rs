//! Runs wrk with the Zipf Lua script and reads the result line its `done` prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::{result_line, Result};

/// The Lua script (also in `crates/tenantpool-loadbench/wrk/zipf.lua`).
pub const SCRIPT: &str = include_str!("../wrk/zipf.lua");

/// Writes the script into `dir` and returns its path.
pub fn write_script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("zipf.lua");
    std::fs::write(&path, SCRIPT).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// How to load the server.
#[derive(Debug, Clone)]
pub struct Load {
    /// wrk threads.
    pub threads: usize,
    /// Open HTTP connections.
    pub connections: usize,
    /// How long.
    pub duration: Duration,
    /// Tenants to spread requests over (1: always `t1`).
    pub tenants: usize,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Tenants are `t<k>.<domain>`.
    pub domain: String,
    /// Seed of the tenant sampling.
    pub seed: u64,
}

/// wrk's summary of one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WrkResult {
    /// Responses received.
    pub requests: u64,
    /// Wall time of the run, in microseconds.
    pub duration_us: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Responses with a status of 400 or more (wrk's `errors.status`).
    pub non2xx: u64,
    /// Socket errors: connect.
    pub connect_errors: u64,
    /// Socket errors: read.
    pub read_errors: u64,
    /// Socket errors: write.
    pub write_errors: u64,
    /// Socket errors: requests that got no answer within wrk's timeout.
    pub timeouts: u64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 90th percentile latency, microseconds.
    pub p90_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Slowest response, microseconds.
    pub max_us: u64,
    /// Mean latency, microseconds.
    pub mean_us: u64,
}

impl WrkResult {
    /// Responses per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    /// Successful (2xx) responses per second.
    pub fn ok_rps(&self) -> f64 {
        self.requests.saturating_sub(self.non2xx) as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    /// All socket errors.
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// Runs wrk against `url` (`http://127.0.0.1:PORT/`).
pub async fn run(url: &str, script: &Path, load: &Load) -> Result<WrkResult> {
    let secs = load.duration.as_secs_f64().ceil().max(1.0) as u64;
    let output = Command::new("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .arg(load.tenants.to_string())
        .arg(load.zipf_s.to_string())
        .arg(&load.domain)
        .arg(load.seed.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            format!("cannot run wrk (is it installed? scripts/loadbench installs it): {e}")
        })?;
    result_line::read(&output, "wrk")
}
