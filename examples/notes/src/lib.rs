//! # tenantpool-notes
//!
//! A multi-tenant notes API on tenantpool, the example of the workspace:
//!
//! | route | what |
//! | --- | --- |
//! | `GET /notes` | the tenant's notes |
//! | `POST /notes` | `{"text": "..."}` → 201 with the note |
//! | `GET /notes/{id}` | one note, or 404 |
//! | `DELETE /notes/{id}` | 204, or 404 |
//! | `GET /healthz` | `ok`, no tenant needed (liveness) |
//! | `GET /readyz` | 200 `{"ready": true, ...}` while the database servers accept connections, 503 with the reasons otherwise; no tenant needed |
//!
//! The store ([`NotesStore`]), the migrations ([`SqliteMigrations`], [`ServerMigrations`])
//! and the configuration ([`load_config`], [`ServerConfig`]) know no web framework: the
//! actix server here and the axum one (`tenantpool-notes-axum`) serve the same API from
//! them, with the same configuration files.
//!
//! The tenant comes from the subdomain (`acme.localhost:8080`), the `X-Tenant-Id` header or
//! the `/t/{tenant}` path prefix, as `[resolve]` says. Each tenant's tables are created by
//! diesel migrations on first use, once, from the registry's tenant start hook. The backend
//! (`sqlite`, `postgres`, `mysql`) is `[server] backend` in the configuration file.
//!
//! ```no_run
//! # async fn run() -> Result<(), tenantpool_notes::NotesError> {
//! let config = tenantpool_notes::load_config(Some("config/default.toml".as_ref()))?;
//! let notes = tenantpool_notes::start(&config)?;
//! println!("listening on http://{}", notes.addr());
//! notes.run().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod migrate;
mod routes;
mod settings;
mod store;

pub use crate::app::{start, Notes, NotesError};
pub use crate::migrate::{ServerMigrations, SqliteMigrations};
pub use crate::settings::{load_config, BackendChoice, ServerConfig};
pub use crate::store::{Note, NotesStore};
