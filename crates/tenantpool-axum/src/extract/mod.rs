//! The extractors: [`Tenant`], `Option<Tenant>`, [`TenantConn`] and [`TenantRegistry`], and
//! their rejections. One extractor per file; rejections gathered in `rejection.rs`.
//!
//! Registries are found in the request extensions, put there by an `Extension` layer, one
//! per connection type and [`Role`](tenantpool_resolve::Role):
//! `router.layer(Extension(TenantRegistry::<C, Replica>::with_role(replica)))`.

mod registry;
mod rejection;
mod tenant;
mod tenant_conn;

pub use self::registry::TenantRegistry;
pub use self::rejection::{MissingRegistry, TenantConnRejection, TenantError, TenantRejection};
pub(crate) use self::tenant::NoTenant;
pub use self::tenant::Tenant;
pub use self::tenant_conn::TenantConn;
