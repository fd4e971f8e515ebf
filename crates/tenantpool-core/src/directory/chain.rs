//! Several directories asked in turn.

use async_trait::async_trait;

use super::{DirectoryChanges, DirectoryError, TenantDirectory, TenantTarget};
use crate::TenantId;

/// Asks each directory in turn; the first that knows the tenant wins.
///
/// ```
/// use tenantpool_core::{ChainDirectory, StaticDirectory, TemplateDirectory};
/// let dir = ChainDirectory::new()
///     .then(StaticDirectory::new())
///     .then(TemplateDirectory::database("sqlite://data/{tenant}.db")?);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Default)]
pub struct ChainDirectory {
    sources: Vec<Box<dyn TenantDirectory>>,
}

impl ChainDirectory {
    /// An empty chain (knows no tenant).
    ///
    /// ```
    /// let chain = tenantpool_core::ChainDirectory::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a source.
    ///
    /// ```
    /// let chain = tenantpool_core::ChainDirectory::new().then(tenantpool_core::StaticDirectory::new());
    /// ```
    pub fn then(mut self, source: impl TenantDirectory) -> Self {
        self.sources.push(Box::new(source));
        self
    }
}

#[async_trait]
impl TenantDirectory for ChainDirectory {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        for source in &self.sources {
            if let Some(target) = source.lookup(tenant).await? {
                return Ok(Some(target));
            }
        }
        Ok(None)
    }

    /// The union of the sources' lists; `None` as soon as one source cannot list.
    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        let mut all = Vec::new();
        for source in &self.sources {
            match source.list().await? {
                Some(tenants) => all.extend(tenants),
                None => return Ok(None),
            }
        }
        Ok(Some(all))
    }

    /// Watches every source at once.
    async fn watch(&self, changes: DirectoryChanges) {
        futures_util::future::join_all(self.sources.iter().map(|s| s.watch(changes.clone()))).await;
    }

    async fn close(&self) {
        futures_util::future::join_all(self.sources.iter().map(|s| s.close())).await;
    }
}
