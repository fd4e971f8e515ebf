//! # tenantpool-core
//!
//! Tenant-keyed, cached, budgeted pools of diesel-async connections, with no web framework in
//! sight. The web adapter (`tenantpool-actix`) and the facade crate (`tenantpool`) build on it.
//!
//! The story of a checkout:
//!
//! 1. A request names a tenant; [`TenantId`] validates it (DNS-label rules, case-folded).
//! 2. [`Registry::get`] finds the tenant in a moka cache. On a miss, one task per tenant asks
//!    the [`TenantDirectory`] where the tenant lives, finds or builds the pool for that
//!    database target (tenants on the same target share it), opens the first connection so a
//!    missing database fails now, and caches the entry.
//! 3. A connection comes out of the pool as a [`PooledConnection`], which derefs to the
//!    diesel-async connection. New connections take a permit from their server's connection
//!    budget first; when the budget is full, an idle connection of another pool is closed to
//!    make room.
//! 4. Dropping the guard returns the connection, or closes it when it is dirty.
//! 5. Idle tenants are evicted; a pool closes when no tenant and no guard uses it any more.
//!
//! ```no_run
//! use diesel_async::{AsyncPgConnection, RunQueryDsl};
//! use tenantpool_core::{Registry, Settings, TemplateDirectory, TenantId};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::<AsyncPgConnection>::builder(Settings::default())
//!     .directory(TemplateDirectory::database("postgres://app@127.0.0.1:5432/tenant_{tenant}")?)
//!     .build()?;
//! let mut conn = registry.get(&TenantId::parse("acme")?).await?;
//! diesel::sql_query("SELECT 1").execute(&mut conn).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod admission;
mod affinity;
pub mod backend;
mod backend_kind;
mod backoff;
mod budget;
mod capacity;
pub mod catalog;
pub mod config;
mod config_error;
mod connection;
mod context;
pub mod directory;
mod entry;
mod error;
mod fan_out;
mod held;
mod lock;
mod manager;
mod metrics;
pub mod migrations;
mod pool;
mod pressure;
mod readiness;
mod registry;
mod runtime;
pub mod stats;
mod target;
mod tenant;
pub mod tls;
mod top_k;
mod tracking;

#[cfg(feature = "sqlite")]
pub use crate::backend::SqliteConnection;
pub use crate::backend::{is_connection_error, Backend};
pub use crate::backend_kind::BackendKind;
pub use crate::budget::Budgets;
pub use crate::config::Settings;
pub use crate::config_error::ConfigError;
pub use crate::connection::PooledConnection;
pub use crate::context::{
    current_tenant, spawn, spawn_blocking, with_tenant, with_tenant_sync, WithTenant,
};
pub use crate::directory::{
    ChainDirectory, DirectoryError, StaticDirectory, TemplateDirectory, TenantDirectory,
    TenantTarget,
};
pub use crate::error::{Error, ErrorKind};
pub use crate::fan_out::{FanOutError, TenantOutcome};
pub use crate::readiness::{NotReady, NotReadyCause, ProbeOutcome, Readiness, ServerReadiness};
pub use crate::registry::{BoxError, Registry, RegistryBuilder, ShutdownReport, TenantInit};
pub use crate::runtime::IoRuntime;
pub use crate::stats::Stats;
pub use crate::target::{DatabaseUrl, Isolation, SchemaName, ServerKey, UrlTemplate};
pub use crate::tenant::{InvalidTenantId, TenantId, MAX_TENANT_ID_LEN, RESERVED_TENANT_IDS};
