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

use tenantpool::testkit::{capture_logs, CapturedLogs};
use tenantpool::{Backend, DatabaseUrl, Registry, Settings, StaticDirectory, TenantTarget};

use crate::common::tenant;

/// The binary's log capture (the testkit's global subscriber) for the core's held-too-long
/// events, every span rendered so that an event shows its span's fields.
pub fn logs() -> &'static CapturedLogs {
    capture_logs(&["tenantpool_core::held"])
        .expect("this binary installs the only global subscriber")
}

/// The captured lines that carry `tenant=<key>` (keys are unique per test).
pub fn lines_of(key: &str) -> Vec<String> {
    logs().lines_with_field("tenant", key)
}

/// A registry serving tenant `key` from `url`, with the capture installed first.
pub fn registry<C: Backend>(settings: Settings, key: &str, url: &str) -> Registry<C> {
    logs();
    let url = DatabaseUrl::parse(url).expect("url");
    Registry::<C>::builder(settings)
        .directory(StaticDirectory::new().with(tenant(key), TenantTarget::database(url)))
        .build()
        .expect("registry")
}
