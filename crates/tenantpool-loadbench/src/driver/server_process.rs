//! One variant's server in a process of its own (this binary's `serve`), its output going to
//! a log file in the results directory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::variant::Variant;
use crate::{client, fail, Result};

use super::{log, Plan};

/// A running server process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the `variant` server of the plan on `port` and waits until it is healthy.
    pub async fn spawn(plan: &Plan, variant: Variant, port: u16, log_path: &Path) -> Result<Self> {
        Self::spawn_with(plan, variant, port, log_path, &[]).await
    }

    /// [`Self::spawn`] with `extra` `serve` options (e.g. `--replicas 3`).
    pub async fn spawn_with(
        plan: &Plan,
        variant: Variant,
        port: u16,
        log_path: &Path,
        extra: &[String],
    ) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let log_file = std::fs::File::create(log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let child = Command::new(exe)
            .arg("serve")
            .args(["--variant", variant.label()])
            .args(["--port", &port.to_string()])
            .args(["--pg", &plan.pg])
            .args(["--budget", &plan.budget.to_string()])
            .args(["--pool-size", &plan.pool_size.to_string()])
            .args(["--naive-pool-size", &plan.naive_pool_size.to_string()])
            .args(["--workers", &plan.workers.to_string()])
            .args(["--domain", &plan.domain])
            .args(["--tenants", &plan.tenants.to_string()])
            .args(["--query", plan.query.label()])
            .args(["--sslmode", plan.sslmode])
            .args(extra)
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the {} server: {e}", variant.label()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { child, addr };
        if let Err(e) = client::wait_healthy(server.addr, Duration::from_secs(30)).await {
            server.stop().await;
            return fail(format!(
                "{e} (variant {}; see {})",
                variant.label(),
                log_path.display()
            ));
        }
        Ok(server)
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGINT (actix drains and stops), then SIGKILL after 15 s.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                log("the server did not stop within 15 s of SIGINT; killing it");
                let _ = self.child.kill().await;
            }
        }
    }
}
