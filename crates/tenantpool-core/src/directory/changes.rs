//! How a directory that watches its source tells the registry which tenants changed.

use std::fmt;
use std::sync::Arc;

use crate::TenantId;

/// Where a watching directory reports changes (see [`TenantDirectory::watch`]).
///
/// The registry hands one to [`TenantDirectory::watch`] when it is built. A reported tenant is
/// forgotten at once: its cached entry is dropped (its pool closes when its last connection
/// is returned, unless other tenants share it), its remembered failure is cleared, and the
/// directory's list is read again on the next miss. The next request for it starts it from
/// the directory's new answer.
///
/// [`TenantDirectory::watch`]: super::TenantDirectory::watch
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tenantpool_core::directory::DirectoryChanges;
/// use tenantpool_core::TenantId;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let changes = DirectoryChanges::new(move |t: &TenantId| sink.lock().unwrap().push(t.clone()));
/// changes.changed(&TenantId::parse("acme")?);
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// # Ok::<(), tenantpool_core::InvalidTenantId>(())
/// ```
#[derive(Clone)]
pub struct DirectoryChanges {
    report: Arc<dyn Fn(&TenantId) + Send + Sync>,
}

impl DirectoryChanges {
    /// Changes reported to `report`.
    ///
    /// ```
    /// let changes = tenantpool_core::directory::DirectoryChanges::new(|_| {});
    /// ```
    pub fn new(report: impl Fn(&TenantId) + Send + Sync + 'static) -> Self {
        Self {
            report: Arc::new(report),
        }
    }

    /// Reports that the directory's answer for `tenant` changed (created, suspended, resumed,
    /// moved, deleted).
    ///
    /// ```
    /// let changes = tenantpool_core::directory::DirectoryChanges::new(|_| {});
    /// changes.changed(&"acme".parse()?);
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn changed(&self, tenant: &TenantId) {
        (self.report)(tenant);
    }
}

impl fmt::Debug for DirectoryChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectoryChanges")
    }
}
