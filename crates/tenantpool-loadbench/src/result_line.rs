//! The one `LOADBENCH_JSON {...}` line on which a child program of the driver (wrk's Lua
//! script, the memory binary) prints its result among whatever else it prints.

use std::process::Output;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{fail, Result};

/// What the result line starts with (also in `wrk/zipf.lua`).
pub const PREFIX: &str = "LOADBENCH_JSON ";

/// Prints `value` as the result line on standard output.
pub fn print<T: Serialize>(value: &T) -> Result<()> {
    println!("{PREFIX}{}", serde_json::to_string(value)?);
    Ok(())
}

/// The result of a finished child program; `program` names it in errors.
pub fn read<T: DeserializeOwned>(output: &Output, program: &str) -> Result<T> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return fail(format!(
            "{program} failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&stdout, program)
}

/// The result line in `stdout`, parsed.
fn parse<T: DeserializeOwned>(stdout: &str, program: &str) -> Result<T> {
    let Some(json) = stdout.lines().find_map(|l| l.strip_prefix(PREFIX)) else {
        return fail(format!("{program} printed no result line:\n{stdout}"));
    };
    Ok(serde_json::from_str(json).map_err(|e| format!("{program}'s result {json:?}: {e}"))?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_result_line_is_found_among_other_output() -> Result<()> {
        let stdout = format!("Running 2s test\n{PREFIX}{{\"requests\":12}}\nbye\n");
        let parsed: BTreeMap<String, u64> = parse(&stdout, "wrk")?;
        assert_eq!(parsed.get("requests"), Some(&12));
        Ok(())
    }

    #[test]
    fn output_without_a_result_line_names_the_program() {
        let error = parse::<BTreeMap<String, u64>>("nothing here\n", "wrk")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with("wrk printed no result line"), "{error}");
    }
}
