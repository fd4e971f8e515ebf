//! What an operator sees of the core: its events (as a `tracing_subscriber::fmt` log renders
//! them) and its counters, on real servers (PostgreSQL, SQLite).
//!
//! Its own test binary, because it installs a global subscriber: the core emits some events
//! (the held-too-long warnings) from the maintenance task, on the registry's I/O runtime
//! threads, where a subscriber set for one thread (`set_default`, `with_default`) is not in
//! effect. A global one sees every thread, whichever runtime the registry uses. The tests of
//! this binary run in parallel and share it: each reads only the lines of its own tenants,
//! whose keys no other test uses. Registries here are built with [`registry`], never with
//! `common::registry` (whose `init_tracing` would install a subscriber of its own).

#[path = "../common/mod.rs"]
#[allow(unused_macros, unused_imports)] // its SQL helpers serve the other binaries
mod common;

mod held;

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

use tenantpool::{Backend, DatabaseUrl, Registry, Settings, StaticDirectory, TenantTarget};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

use crate::common::tenant;

/// Everything the capture layer wrote, in order.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A `MakeWriter` (as `|| Log`) appending to [`LOG`]. The fmt layer writes each event with
/// one `write`, so lines never interleave.
struct Log;

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once for the binary, a global subscriber: a plain-text fmt layer into [`LOG`]
/// for the core's held-too-long events (and every span, so that an event's span fields are
/// rendered), plus the usual `RUST_LOG` output to the test's stdout.
pub fn install_capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let capture = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| Log)
            .with_filter(filter_fn(|meta| {
                meta.is_span() || meta.target() == "tenantpool_core::held"
            }));
        let stdout = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::from_default_env());
        tracing_subscriber::registry()
            .with(capture)
            .with(stdout)
            .try_init()
            .expect("this binary installs the only global subscriber");
    });
}

/// The captured lines that carry `tenant=<key>` (keys are unique per test).
pub fn lines_of(key: &str) -> Vec<String> {
    let log = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    let field = format!("tenant={key}");
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| {
            line.split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ':')
                .any(|word| word == field)
        })
        .map(str::to_owned)
        .collect()
}

/// A registry serving tenant `key` from `url`, with the capture installed first.
pub fn registry<C: Backend>(settings: Settings, key: &str, url: &str) -> Registry<C> {
    install_capture();
    let url = DatabaseUrl::parse(url).expect("url");
    Registry::<C>::builder(settings)
        .directory(StaticDirectory::new().with(tenant(key), TenantTarget::database(url)))
        .build()
        .expect("registry")
}
