//! A tiny `--key value` / `--flag` command-line parser (no dependency, quick to build).

use std::collections::HashMap;
use std::str::FromStr;

use crate::{fail, Result};

/// Parsed `--key value` pairs and bare `--flag`s.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, Vec<String>>,
}

impl Args {
    /// Parses arguments (without the program name and subcommand).
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut raw = raw.into_iter().peekable();
        while let Some(arg) = raw.next() {
            let Some(key) = arg.strip_prefix("--") else {
                return fail(format!(
                    "unexpected argument {arg:?}: options are --key value"
                ));
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match raw.peek() {
                    Some(next) if !next.starts_with("--") => {
                        let value = raw.next().unwrap_or_default();
                        (key.to_string(), value)
                    }
                    _ => (key.to_string(), "true".to_string()),
                },
            };
            values.entry(key).or_default().push(value);
        }
        Ok(Self { values })
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.values
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x != "false"))
    }

    /// The last value of `--name`, if given.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The last value of `--name` parsed as `T`, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.str(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| format!("--{name} {raw:?}: {e}").into()),
        }
    }

    /// Every value of `--name`, comma-separated lists flattened, each parsed as `T`.
    pub fn list<T: FromStr>(&self, name: &str) -> Result<Vec<T>>
    where
        T::Err: std::fmt::Display,
    {
        let mut out = Vec::new();
        for raw in self.values.get(name).into_iter().flatten() {
            for item in raw.split(',').filter(|s| !s.is_empty()) {
                out.push(
                    item.parse()
                        .map_err(|e| format!("--{name} {item:?}: {e}"))?,
                );
            }
        }
        Ok(out)
    }
}
