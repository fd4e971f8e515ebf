//! [`Registries`]: the registries handed to a [`TenantLayer`](crate::TenantLayer), one per
//! connection type and role, found again by type.
//!
//! The layer passes them to every request inside the one extension it inserts anyway (the
//! request's tenant), so a route's [`TenantConn`](crate::TenantConn) finds its registry
//! without a registry `Extension` layer: that layer costs an extension insert and a boxed
//! route around every handler on each request (measured in docs/benchmarks.md).

use std::any::Any;
use std::sync::Arc;

use tenantpool_core::Backend;
use tenantpool_resolve::Role;

use crate::extract::TenantRegistry;

/// The registries of one layer; cloning shares them.
#[derive(Clone, Default)]
pub(crate) struct Registries(Arc<Vec<Arc<dyn Any + Send + Sync>>>);

impl Registries {
    /// These registries and `registry`; one already held for the same connection type and
    /// role is replaced.
    pub(crate) fn with<C: Backend, R: Role>(&self, registry: TenantRegistry<C, R>) -> Self {
        let mut all: Vec<_> = self
            .0
            .iter()
            .filter(|held| !held.is::<TenantRegistry<C, R>>())
            .cloned()
            .collect();
        all.push(Arc::new(registry));
        Self(Arc::new(all))
    }

    /// The registry of connection type `C` in role `R`, if the layer was given one.
    pub(crate) fn get<C: Backend, R: Role>(&self) -> Option<&TenantRegistry<C, R>> {
        self.0.iter().find_map(|held| held.downcast_ref())
    }

    /// How many registries are held.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use tenantpool_core::{Registry, Settings, SqliteConnection, TemplateDirectory};
    use tenantpool_resolve::{Primary, Replica};

    use super::*;

    /// A registry told apart from the others by its pool size.
    fn registry(max_size: usize) -> Registry<SqliteConnection> {
        let mut settings = Settings::default();
        settings.pool.max_size = max_size;
        Registry::builder(settings)
            .directory(TemplateDirectory::database("sqlite://data/{tenant}.db").unwrap())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_registry_is_found_by_connection_type_and_role_and_replaced_by_a_second() {
        let first = registry(1);
        let second = registry(2);
        let replica = registry(3);
        let set = Registries::default()
            .with(TenantRegistry::new(first))
            .with(TenantRegistry::<_, Replica>::with_role(replica));
        assert_eq!(set.len(), 2);
        assert!(set.get::<SqliteConnection, Primary>().is_some());
        let set = set.with(TenantRegistry::new(second));
        assert_eq!(set.len(), 2);
        let primary = set.get::<SqliteConnection, Primary>().unwrap();
        assert_eq!(primary.settings().pool.max_size, 2);
        let replica = set.get::<SqliteConnection, Replica>().unwrap();
        assert_eq!(replica.settings().pool.max_size, 3);
    }
}
