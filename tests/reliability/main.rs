//! The reliability and security suite: what production does to a pool layer, over real HTTP,
//! against real servers.
//!
//! | scenario | module |
//! | --- | --- |
//! | PostgreSQL restart under load (private cluster); every backend terminated mid-load | `faults` |
//! | leak soak: successes, errors, panics, disconnects, timeouts; budget and zero after shutdown | `soak` |
//! | interleaved schema tenants: never another tenant's `search_path` or rows | `schema` |
//! | fuzzed parsers, hostile `Host` table, unknown-tenant floods | `hostile` |
//! | no password in any log line, error body, Debug output or stats | `secrets` |
//! | a hanging and a refusing server beside a live one | `degrade` |
//!
//! Sizes: CI sizes by default; full sizes with `TENANTPOOL_FULL=1` (`scripts/reliability`).
//! See docs/reliability.md for the commands and the figures.

#[macro_use]
mod support;
mod app;
mod cluster;
mod degrade;
mod faults;
mod hostile;
mod schema;
mod secrets;
mod soak;
