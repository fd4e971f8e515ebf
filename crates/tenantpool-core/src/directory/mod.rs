//! The tenant directory: where a tenant's data lives.
//!
//! The registry asks the directory once per cold start of a tenant. Three sources come with
//! the crate: a static list ([`StaticDirectory`], usually from configuration), a URL template
//! for database-per-tenant or schema-per-tenant naming ([`TemplateDirectory`]), and a chain of
//! directories ([`ChainDirectory`], which the `[directory]` section builds). A catalog table in
//! a control database is [`Catalog`](crate::catalog::Catalog); applications with an API of
//! their own implement [`TenantDirectory`].

mod chain;
mod changes;
mod static_directory;
mod template;
mod tenant_target;

use std::sync::Arc;

pub use async_trait::async_trait;

pub use self::chain::ChainDirectory;
pub use self::changes::DirectoryChanges;
pub use self::static_directory::StaticDirectory;
pub use self::template::TemplateDirectory;
pub use self::tenant_target::{PoolOverrides, TenantTarget};
use crate::TenantId;

/// A failure of the directory itself (not "tenant unknown", which is `Ok(None)`).
///
/// ```
/// let e = tenantpool_core::DirectoryError::new("catalog query failed");
/// assert_eq!(e.to_string(), "catalog query failed");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DirectoryError(String);

impl DirectoryError {
    /// A directory error with a message. Do not put secrets in it.
    ///
    /// ```
    /// let e = tenantpool_core::DirectoryError::new("timeout");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A source of tenant targets.
///
/// `Ok(None)` means "no such tenant" (HTTP 404); `Err` means the directory itself failed
/// (HTTP 500). The registry calls it once per cold start of a tenant, never on the hot path,
/// and remembers "unknown" for a while (see [`BackoffSettings`](crate::config::BackoffSettings)).
///
/// ```
/// use async_trait::async_trait;
/// use tenantpool_core::{DatabaseUrl, DirectoryError, TenantDirectory, TenantId, TenantTarget};
///
/// /// Tenants whose key starts with "demo-" live in one demo database each.
/// struct Demo;
///
/// #[async_trait]
/// impl TenantDirectory for Demo {
///     async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
///         if !tenant.as_str().starts_with("demo-") {
///             return Ok(None);
///         }
///         let url = DatabaseUrl::parse(&format!("sqlite://data/{tenant}.db"))
///             .map_err(|e| DirectoryError::new(e.to_string()))?;
///         Ok(Some(TenantTarget::database(url)))
///     }
/// }
/// ```
#[async_trait]
pub trait TenantDirectory: Send + Sync + 'static {
    /// Looks a tenant up.
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError>;

    /// Every tenant the directory knows, when it can list them; `None` when it cannot (a
    /// template without an allow-list, an API without a list call).
    ///
    /// The registry uses the list to answer keys that are not on it with "unknown tenant"
    /// without a lookup each, so that a flood of random keys costs the directory one list
    /// call per refresh interval instead of one lookup per request. The default cannot list.
    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        Ok(None)
    }

    /// Watches the source for changes and reports each changed tenant to `changes`, for as
    /// long as the registry lives.
    ///
    /// The registry runs it once, as a task on its I/O runtime, when it is built, and aborts
    /// it at shutdown. A directory whose answers never change (the default) returns at once;
    /// one that can change (a catalog table) keeps going, and reports within a bound it
    /// documents. Errors are the directory's to log and retry: the future should only end
    /// when there is nothing left to watch.
    async fn watch(&self, changes: DirectoryChanges) {
        let _ = changes;
    }

    /// Releases what the directory holds open (a catalog's connection), at the registry's
    /// shutdown, after its watch has been stopped. The default holds nothing.
    async fn close(&self) {}
}

#[async_trait]
impl<D: TenantDirectory + ?Sized> TenantDirectory for Arc<D> {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        (**self).lookup(tenant).await
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        (**self).list().await
    }

    async fn watch(&self, changes: DirectoryChanges) {
        (**self).watch(changes).await
    }

    async fn close(&self) {
        (**self).close().await
    }
}

#[async_trait]
impl<D: TenantDirectory + ?Sized> TenantDirectory for Box<D> {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        (**self).lookup(tenant).await
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        (**self).list().await
    }

    async fn watch(&self, changes: DirectoryChanges) {
        (**self).watch(changes).await
    }

    async fn close(&self) {
        (**self).close().await
    }
}
