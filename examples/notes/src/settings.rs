//! The example's own configuration: the `[server]` section, next to the core's sections and
//! the adapter's `[resolve]` and `[admin]` in the same file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::NotesError;

/// Which database the notes live in.
///
/// ```
/// let b: tenantpool_notes::BackendChoice = serde_json::from_str("\"postgres\"")?;
/// assert_eq!(b, tenantpool_notes::BackendChoice::Postgres);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// One SQLite file per tenant (the default).
    #[default]
    Sqlite,
    /// PostgreSQL: a database or a schema per tenant.
    Postgres,
    /// MySQL or MariaDB: a database per tenant.
    Mysql,
}

/// The `[server]` section.
///
/// ```
/// let s = tenantpool_notes::ServerConfig::default();
/// assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080`; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The backend. Default `sqlite`.
    pub backend: BackendChoice,
    /// Worker threads (actix workers, or the axum binary's tokio worker threads). Default 2.
    pub workers: usize,
    /// How long a stop waits for in-flight requests, and then for checked-out connections.
    /// Default 10 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            backend: BackendChoice::Sqlite,
            workers: 2,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// Reads the `[server]` section (all defaults when it is absent).
    ///
    /// ```
    /// let config = config::Config::builder().build()?;
    /// assert_eq!(tenantpool_notes::ServerConfig::from_config(&config)?.workers, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, NotesError> {
        match config.get::<Self>("server") {
            Ok(s) => Ok(s),
            Err(config::ConfigError::NotFound(_)) => Ok(Self::default()),
            Err(e) => Err(NotesError::Config(format!("[server]: {e}"))),
        }
    }
}

/// Loads a TOML file (when given) and `NOTES_*` environment overrides
/// (`NOTES_SERVER__BIND=127.0.0.1:0`, `NOTES_ADMIN__TOKEN=...`).
///
/// ```no_run
/// let config = tenantpool_notes::load_config(Some("config/postgres.toml".as_ref()))?;
/// # Ok::<(), tenantpool_notes::NotesError>(())
/// ```
pub fn load_config(file: Option<&Path>) -> Result<config::Config, NotesError> {
    tenantpool::config::load_config(file, "NOTES").map_err(|e| NotesError::Config(e.to_string()))
}
