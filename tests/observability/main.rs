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

mod capacity;
mod events;
mod held;

use tenantpool::testkit::{capture_logs, CapturedLogs};
use tenantpool::{Backend, DatabaseUrl, Registry, Settings, StaticDirectory, TenantTarget};

use crate::common::tenant;

/// The binary's log capture (the testkit's global subscriber) for the core's events at every
/// level, every span rendered so that an event shows its span's fields.
pub fn logs() -> &'static CapturedLogs {
    capture_logs(&["tenantpool_core"]).expect("this binary installs the only global subscriber")
}

/// The captured lines that carry `tenant=<key>` (keys are unique per test).
pub fn lines_of(key: &str) -> Vec<String> {
    logs().lines_with_field("tenant", key)
}

/// The captured held-too-long warnings of tenant `key`.
pub fn held_lines_of(key: &str) -> Vec<String> {
    lines_of(key)
        .into_iter()
        .filter(|line| line.contains("tenantpool_core::held"))
        .collect()
}

/// A registry serving tenant `key` from `url`, with the capture installed first.
pub fn registry<C: Backend>(settings: Settings, key: &str, url: &str) -> Registry<C> {
    registry_of(settings, &[(key, url)])
}

/// A registry serving each `(key, url)` tenant, with the capture installed first.
pub fn registry_of<C: Backend>(settings: Settings, tenants: &[(&str, &str)]) -> Registry<C> {
    logs();
    let directory = tenants
        .iter()
        .fold(StaticDirectory::new(), |directory, (key, url)| {
            let url = DatabaseUrl::parse(url).expect("url");
            directory.with(tenant(key), TenantTarget::database(url))
        });
    Registry::<C>::builder(settings)
        .directory(directory)
        .build()
        .expect("registry")
}
