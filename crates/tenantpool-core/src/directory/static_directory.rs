//! A fixed list of tenants.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{DirectoryError, TenantDirectory, TenantTarget};
use crate::TenantId;

/// A fixed list of tenants.
///
/// ```
/// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
///
/// let dir = StaticDirectory::new()
///     .with(TenantId::parse("acme")?, TenantTarget::database(DatabaseUrl::parse("sqlite://data/acme.db")?));
/// assert_eq!(dir.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    tenants: HashMap<TenantId, TenantTarget>,
}

impl StaticDirectory {
    /// An empty directory.
    ///
    /// ```
    /// assert!(tenantpool_core::StaticDirectory::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tenant.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
    /// let dir = StaticDirectory::new().with(
    ///     TenantId::parse("globex")?,
    ///     TenantTarget::database(DatabaseUrl::parse("sqlite://data/globex.db")?),
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with(mut self, tenant: TenantId, target: TenantTarget) -> Self {
        self.tenants.insert(tenant, target);
        self
    }

    /// Adds (or replaces) a tenant in place.
    ///
    /// ```
    /// use tenantpool_core::{DatabaseUrl, StaticDirectory, TenantId, TenantTarget};
    /// let mut dir = StaticDirectory::new();
    /// dir.insert(TenantId::parse("a")?, TenantTarget::database(DatabaseUrl::parse("sqlite://a.db")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert(&mut self, tenant: TenantId, target: TenantTarget) {
        self.tenants.insert(tenant, target);
    }

    /// Number of tenants.
    ///
    /// ```
    /// assert_eq!(tenantpool_core::StaticDirectory::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// True when no tenant is listed.
    ///
    /// ```
    /// assert!(tenantpool_core::StaticDirectory::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

#[async_trait]
impl TenantDirectory for StaticDirectory {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        Ok(self.tenants.get(tenant).cloned())
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        Ok(Some(self.tenants.keys().cloned().collect()))
    }
}
