//! # tenantpool-notes-axum
//!
//! The notes API of `tenantpool-notes`, served by axum through `tenantpool-axum`: the same
//! routes, the same store ([`tenantpool_notes::NotesStore`]), the same migrations and the
//! same configuration files (`config/*.toml`, `NOTES_*` overrides).
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
//! ```no_run
//! # async fn run() -> Result<(), tenantpool_notes::NotesError> {
//! let config = tenantpool_notes::load_config(Some("config/default.toml".as_ref()))?;
//! let notes = tenantpool_notes_axum::start(&config).await?;
//! println!("listening on http://{}", notes.addr());
//! notes.run(tenantpool_axum::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod routes;

pub use crate::app::{start, NotesAxum};
