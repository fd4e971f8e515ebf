//! Extractors: the resolved tenant, its registry, and a connection scoped to the request.
//!
//! Handlers name what they need in their signature, and the extractor refuses the request
//! with a precise status when it cannot provide it:
//!
//! - [`Tenant`]: the tenant the middleware resolved.
//! - [`TenantRegistry<C, R>`]: the registry of connection type `C` in role `R`, registered as
//!   app data; also an extractor.
//! - [`TenantConn<C, R>`]: a connection of type `C` checked out from that registry for the
//!   request's tenant. It goes back to its pool (or is closed, when dirty) when the handler
//!   drops it, returns, fails or panics.
//!
//! The role `R` picks the registry per route: `TenantConn<AsyncPgConnection>` uses the
//! [`Primary`] registry, `TenantConn<AsyncPgConnection, Replica>` the [`Replica`] one, and a
//! PostgreSQL and a MySQL registry can live side by side because `C` differs. Define more
//! roles with [`role!`](crate::role).
//!
//! Each extractor has its own rejection type, gathered in one module with its status: a
//! missing registry is a 500 whose message names the missing app-data type, never a panic.

mod registry;
mod rejection;
mod tenant;
mod tenant_conn;

pub use self::registry::TenantRegistry;
pub use self::rejection::{MissingRegistry, TenantConnRejection, TenantRejection};
pub(crate) use self::tenant::NoTenant;
pub use self::tenant::Tenant;
pub use self::tenant_conn::TenantConn;
pub use tenantpool_resolve::{Primary, Replica, Role};
