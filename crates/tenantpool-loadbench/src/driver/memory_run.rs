//! Runs the memory binary (`tenantpool-loadbench-memory`, next to this one) for one tenant
//! count: it measures in a process of its own, whose allocator counts every byte.

use tokio::process::Command;

use crate::memory::MemoryResult;
use crate::{result_line, Result};

use super::{log, Plan};

/// Bytes per cached idle tenant at `tenants` tenants.
pub async fn measure(plan: &Plan, tenants: usize) -> Result<MemoryResult> {
    let exe = std::env::current_exe()?;
    let memory_exe = exe.with_file_name("tenantpool-loadbench-memory");
    log(format!("memory: {tenants} cached idle tenants"));
    let output = Command::new(&memory_exe)
        .args(["--pg", &plan.pg])
        .args(["--tenants", &tenants.to_string()])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", memory_exe.display()))?;
    let result: MemoryResult = result_line::read(&output, "the memory benchmark")?;
    log(format!("memory: {result:?}"));
    Ok(result)
}
