//! The admin stats endpoint's answer, shared by the adapters: `GET {path}/stats` serves every
//! registry's snapshot, `GET {path}/stats?tenant=acme` one tenant's figures in each registry.
//!
//! ```text
//! ?tenant absent      200 {"primary": Stats, "replica": Stats}
//! ?tenant=acme        200 {"primary": TenantStats, "replica": null}   (null: not cached there)
//! ?tenant=Not_A_Key   400 {"error": "invalid tenant key: ...", "tenant": null}
//! ?tenant=&tenant=    400 (one tenant per request)
//! ?tenant=idle        404 {"error": "tenant \"idle\" is not started in any registry", "tenant": "idle"}
//! ```
//!
//! The bearer-token check ([`AdminGuard`](crate::AdminGuard)) comes first, in the adapter.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tenantpool_core::stats::TenantStats;
use tenantpool_core::{Backend, Error, Registry, Stats, TenantId};

use crate::error_reply::ErrorReply;

/// What the endpoint reads of a registry.
trait StatsSource: Send + Sync {
    fn stats(&self) -> Stats;
    fn tenant_stats(&self, tenant: &TenantId) -> Option<TenantStats>;
    #[cfg(feature = "metrics")]
    fn publish_metrics(&self, name: &str);
}

impl<C: Backend> StatsSource for Registry<C> {
    fn stats(&self) -> Stats {
        Registry::stats(self)
    }

    fn tenant_stats(&self, tenant: &TenantId) -> Option<TenantStats> {
        Registry::tenant_stats(self, tenant)
    }

    #[cfg(feature = "metrics")]
    fn publish_metrics(&self, name: &str) {
        Registry::publish_metrics(self, name);
    }
}

/// The registries an admin stats endpoint reports on, by name, and its answer to a request.
///
/// ```
/// let stats = tenantpool_resolve::AdminStats::default();
/// // No registry has the tenant: 404.
/// assert_eq!(stats.answer(Some("tenant=acme")).unwrap_err().status, 404);
/// assert_eq!(stats.answer(Some("tenant=Not_A_Key")).unwrap_err().status, 400);
/// assert!(stats.answer(None).is_ok());
/// ```
#[derive(Clone, Default)]
pub struct AdminStats {
    registries: Vec<(String, Arc<dyn StatsSource>)>,
}

impl std::fmt::Debug for AdminStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The body of a successful answer, keyed by registry name.
///
/// ```
/// let reply = tenantpool_resolve::AdminStats::default().answer(None).unwrap();
/// assert!(matches!(reply, tenantpool_resolve::StatsReply::Registries(ref all) if all.is_empty()));
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum StatsReply {
    /// Every registry's snapshot.
    Registries(BTreeMap<String, Stats>),
    /// One tenant's figures in each registry; `None` (`null`) where it is not cached.
    Tenant(BTreeMap<String, Option<TenantStats>>),
}

impl AdminStats {
    /// Reports on `registry` under `name`.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
    /// let mut stats = tenantpool_resolve::AdminStats::default();
    /// stats.add("primary", registry);
    /// assert_eq!(stats.names().collect::<Vec<_>>(), ["primary"]);
    /// # }
    /// ```
    pub fn add<C: Backend>(&mut self, name: &str, registry: Registry<C>) {
        self.registries.push((name.to_string(), Arc::new(registry)));
    }

    /// The names of the registries reported on, in the order they were added.
    ///
    /// ```
    /// assert_eq!(tenantpool_resolve::AdminStats::default().names().count(), 0);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.registries.iter().map(|(name, _)| name.as_str())
    }

    /// Publishes every registry's counters and gauges to the installed `metrics` recorder,
    /// each labelled with its name (see `Registry::publish_metrics`).
    ///
    /// ```
    /// tenantpool_resolve::AdminStats::default().publish_metrics();
    /// ```
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        for (name, registry) in &self.registries {
            registry.publish_metrics(name);
        }
    }

    /// The answer to a request with the query string `query` (without the `?`): every
    /// snapshot, or with `tenant=<key>` that tenant's figures per registry. Other parameters
    /// are ignored; the key is read as sent (tenant keys need no escaping).
    ///
    /// # Errors
    ///
    /// A 400 reply for a malformed key or more than one `tenant`; a 404 reply when no
    /// registry has the tenant cached.
    ///
    /// ```
    /// let stats = tenantpool_resolve::AdminStats::default();
    /// let reply = stats.answer(Some("tenant=a&tenant=b")).unwrap_err();
    /// assert_eq!((reply.status, reply.body.error.as_str()), (400, "give one tenant per request"));
    /// ```
    pub fn answer(&self, query: Option<&str>) -> Result<StatsReply, ErrorReply> {
        let Some(tenant) = tenant_param(query.unwrap_or(""))? else {
            return Ok(StatsReply::Registries(
                self.registries
                    .iter()
                    .map(|(name, r)| (name.clone(), r.stats()))
                    .collect(),
            ));
        };
        let per_registry: BTreeMap<String, Option<TenantStats>> = self
            .registries
            .iter()
            .map(|(name, r)| (name.clone(), r.tenant_stats(&tenant)))
            .collect();
        if per_registry.values().all(Option::is_none) {
            return Err(ErrorReply::new(
                404,
                format!(
                    "tenant {:?} is not started in any registry",
                    tenant.as_str()
                ),
                Some(&tenant),
            ));
        }
        Ok(StatsReply::Tenant(per_registry))
    }
}

/// The tenant a query string asks for, if any.
fn tenant_param(query: &str) -> Result<Option<TenantId>, ErrorReply> {
    let mut values = query
        .split('&')
        .filter_map(|pair| match pair.split_once('=') {
            Some(("tenant", value)) => Some(value),
            None if pair == "tenant" => Some(""),
            _ => None,
        });
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(ErrorReply::new(400, "give one tenant per request", None))
        }
    };
    TenantId::parse(value)
        .map(Some)
        .map_err(|e| ErrorReply::from_core(&Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_tenant_parameter_among_others() {
        let acme = TenantId::parse("acme").unwrap();
        assert_eq!(tenant_param("").unwrap(), None);
        assert_eq!(tenant_param("pretty=1").unwrap(), None);
        assert_eq!(tenant_param("tenant=acme").unwrap(), Some(acme.clone()));
        assert_eq!(tenant_param("x=1&tenant=acme&y").unwrap(), Some(acme));
    }

    #[test]
    fn refuses_a_malformed_key_and_a_repeated_parameter() {
        for query in [
            "tenant=",
            "tenant",
            "tenant=a%20b",
            "tenant=a_b",
            "tenant=a&tenant=b",
        ] {
            let reply = tenant_param(query).unwrap_err();
            assert_eq!(reply.status, 400, "{query}");
            assert_eq!(reply.body.tenant, None, "{query}");
        }
        let repeated = tenant_param("tenant=a&tenant=a").unwrap_err();
        assert_eq!(repeated.body.error, "give one tenant per request");
        let malformed = tenant_param("tenant=a_b").unwrap_err();
        assert!(
            malformed.body.error.starts_with("invalid tenant key"),
            "{}",
            malformed.body.error
        );
    }
}
