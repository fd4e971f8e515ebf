//! The extractors: [`Tenant`], `Option<Tenant>`, [`TenantConn`] and [`TenantRegistry`], and
//! their rejections. One extractor per file; rejections gathered in `rejection.rs`.
//!
//! Registries are handed to the [`TenantLayer`](crate::TenantLayer), one per connection type
//! and [`Role`](tenantpool_resolve::Role):
//! `layer.registry(TenantRegistry::<C, Replica>::with_role(replica))`, which passes them to
//! each request with its tenant; a registry added as an `Extension` is found too.

mod registry;
mod rejection;
mod request_tenant;
mod tenant;
mod tenant_conn;

pub use self::registry::TenantRegistry;
pub use self::rejection::{MissingRegistry, TenantConnRejection, TenantError, TenantRejection};
pub(crate) use self::request_tenant::RequestTenant;
pub use self::tenant::Tenant;
pub use self::tenant_conn::TenantConn;
