//! Log lines as an operator reads them, captured for tests that assert on them.
//!
//! Some events come from tasks on other threads than the test's (tenantpool's maintenance
//! task runs on the registry's I/O runtime), where a subscriber set for one thread
//! (`tracing::subscriber::set_default`) is not in effect. So the capture is a global
//! subscriber, installed once per test binary, and tests that run in parallel share it: each
//! reads only the lines that name its own (unique) tenants or routes.

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

use crate::Error;

/// The lines a global `tracing_subscriber::fmt` layer wrote, plain text (no colours).
///
/// Every span is rendered (so that an event shows the fields of the spans it happened in,
/// such as a request's route and tenant), and the events whose target starts with one of the
/// prefixes given to [`capture_logs`]. Everything else still goes to the test's output,
/// filtered by `RUST_LOG`.
///
/// ```
/// let logs = tenantpool_testkit::capture_logs(&["my_crate::audit"])?;
/// tracing::warn!(target: "my_crate::audit", tenant = "acme", "over quota");
/// assert_eq!(logs.lines_containing("tenant=\"acme\"").len(), 1);
/// # Ok::<(), tenantpool_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct CapturedLogs {
    targets: &'static [&'static str],
    text: Mutex<Vec<u8>>,
}

static CAPTURED: OnceLock<CapturedLogs> = OnceLock::new();

/// Installs the capture for this test binary (the first call does; later calls return the
/// same capture) and returns it.
///
/// # Errors
///
/// [`Error::Setup`] when another global subscriber was installed first, or when a later call
/// asks for other targets than the first one did: a binary has one capture.
///
/// ```
/// let logs = tenantpool_testkit::capture_logs(&["tenantpool_core::held"])?;
/// assert!(logs.lines_containing("no such line").is_empty());
/// # Ok::<(), tenantpool_testkit::Error>(())
/// ```
pub fn capture_logs(targets: &'static [&'static str]) -> Result<&'static CapturedLogs, Error> {
    let mut installed = Ok(());
    let logs = CAPTURED.get_or_init(|| {
        let capture = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| Writer)
            .with_filter(filter_fn(move |meta| {
                meta.is_span() || targets.iter().any(|t| meta.target().starts_with(t))
            }));
        let output = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::from_default_env());
        installed = tracing_subscriber::registry()
            .with(capture)
            .with(output)
            .try_init()
            .map_err(|e| Error::Setup(format!("cannot install the log capture: {e}")));
        CapturedLogs {
            targets,
            text: Mutex::new(Vec::new()),
        }
    });
    installed?;
    if logs.targets != targets {
        return Err(Error::Setup(format!(
            "the log capture of this binary was installed for {:?}, not {targets:?}",
            logs.targets
        )));
    }
    Ok(logs)
}

impl CapturedLogs {
    /// The captured lines that contain `needle`, in the order they were written.
    ///
    /// ```
    /// let logs = tenantpool_testkit::capture_logs(&["my_crate"])?;
    /// tracing::warn!(target: "my_crate", "first");
    /// assert_eq!(logs.lines_containing("first").len(), 1);
    /// # Ok::<(), tenantpool_testkit::Error>(())
    /// ```
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        let text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// The captured lines with the field `name=value` (in an event's fields or in one of its
    /// spans), matched as a whole word: `tenant=acme` does not match `tenant=acme2`.
    ///
    /// ```
    /// let logs = tenantpool_testkit::capture_logs(&["my_crate"])?;
    /// tracing::warn!(target: "my_crate", tenant = %"acme2", "held");
    /// assert!(logs.lines_with_field("tenant", "acme").is_empty());
    /// assert_eq!(logs.lines_with_field("tenant", "acme2").len(), 1);
    /// # Ok::<(), tenantpool_testkit::Error>(())
    /// ```
    pub fn lines_with_field(&self, name: &str, value: &str) -> Vec<String> {
        let field = format!("{name}={value}");
        self.lines_containing(&field)
            .into_iter()
            .filter(|line| {
                line.split(|c: char| c.is_whitespace() || matches!(c, '{' | '}' | ':'))
                    .any(|word| word == field)
            })
            .collect()
    }
}

/// Appends to the capture; the fmt layer writes each event with one `write`, so lines never
/// interleave.
struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(logs) = CAPTURED.get() {
            logs.text
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
