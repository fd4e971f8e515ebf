//! The notes example end to end on actix-web: the suite of `suite/mod.rs`, which the axum
//! binary (`tenantpool-notes-axum`) runs too, against `tenantpool-notes`, on SQLite,
//! PostgreSQL (database and schema per tenant) and MariaDB.

mod suite;

suite::notes_suite!(env!("CARGO_BIN_EXE_tenantpool-notes"));
