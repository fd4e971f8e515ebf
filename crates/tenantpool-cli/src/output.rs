//! What the CLI prints: a human line per tenant, or JSON.

use std::process::ExitCode;

use tenantpool_core::catalog::TenantRecord;

use crate::exit::Failure;

/// Prints the failure on stderr and gives its exit code.
pub fn fail(json: bool, failure: &Failure) -> ExitCode {
    if json {
        let doc = serde_json::json!({
            "error": { "kind": failure.kind, "code": failure.code, "message": failure.message }
        });
        eprintln!("{doc}");
    } else {
        eprintln!("error: {}", failure.message);
    }
    ExitCode::from(failure.code)
}

/// Prints a JSON document on stdout.
pub fn json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// One tenant as a line: key, status, placement, version.
pub fn line(record: &TenantRecord) -> String {
    let mut overrides = Vec::new();
    if let Some(n) = record.overrides.max_size {
        overrides.push(format!("max_size={n}"));
    }
    if let Some(n) = record.overrides.tenant_max_in_use {
        overrides.push(format!("tenant_max_in_use={n}"));
    }
    if let Some(d) = record.overrides.checkout_timeout {
        overrides.push(format!("checkout_timeout={}ms", d.as_millis()));
    }
    format!(
        "{:<24} {:<10} {:<16} v{:<6} {}",
        record.tenant.as_str(),
        record.status.as_str(),
        record.placement,
        record.version,
        overrides.join(" ")
    )
    .trim_end()
    .to_string()
}

/// A tenant, as JSON or a line.
pub fn record(json_output: bool, record: &TenantRecord) -> Result<(), Failure> {
    if json_output {
        json(record)
    } else {
        println!("{}", line(record));
        Ok(())
    }
}
