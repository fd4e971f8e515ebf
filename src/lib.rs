//! # tenantpool
//!
//! One actix-web or axum service, thousands of tenants, each with its own database or schema, without
//! leaking a connection, handing one tenant's connection to another, or drowning the database
//! server in connections.
//!
//! This facade re-exports [`tenantpool_core`] and the web adapters: with the `actix` feature
//! `tenantpool::actix`, with the `axum` feature `tenantpool::axum` (the same resolution,
//! extractors and error bodies on both). Backends are features: `postgres`, `mysql`, `sqlite`
//! (the default).
//!
//! ```no_run
//! use tenantpool::{Registry, Settings, TenantId};
//! # #[cfg(feature = "sqlite")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::load(Some("config/default.toml".as_ref()))?;
//! let registry = Registry::<tenantpool::SqliteConnection>::builder(settings).build()?;
//! let conn = registry.get(&TenantId::parse("acme")?).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub use tenantpool_core::*;

/// The actix-web adapter: tenant-resolving middleware and connection extractors.
#[cfg(feature = "actix")]
pub use tenantpool_actix as actix;

#[cfg(feature = "axum")]
pub use tenantpool_axum as axum;

/// Helpers for your own test suite: test servers from the environment (with one rule for
/// CI), throwaway databases, connection counts by tag, peak sampling and the "no connection
/// leaked" assertion.
///
#[cfg_attr(feature = "postgres", doc = include_str!("../docs/testing.md"))]
#[cfg(feature = "testkit")]
pub use tenantpool_testkit as testkit;
