//! The notes example end to end on axum: the same suite as the actix binary
//! (examples/notes/tests/suite/mod.rs), against `tenantpool-notes-axum`, on SQLite,
//! PostgreSQL (database and schema per tenant) and MariaDB.

#[path = "../../notes/tests/suite/mod.rs"]
mod suite;

suite::notes_suite!(env!("CARGO_BIN_EXE_tenantpool-notes-axum"));
