//! Per-tenant pressure: how many connections each tenant holds, how often and how long its
//! checkouts waited, how many gave up, and since when it is started; and the busiest tenants
//! of a registry by each measure.
//!
//! ```text
//! TenantEntry ── Pressure { started_at, waiting, waits, wait_nanos, timeouts }
//!                  ▲ checkout not served at first poll: Waiting (waits +1, waiting +1;
//!                  │   on drop waiting -1, wait_nanos += elapsed); deadline passed: timeouts +1
//! snapshot ──────▶ TenantStats per cached tenant (in use from the entry's reference count,
//!                  see `entry`) ──▶ TopTenants: TopK by in use, TopK by wait time
//! ```
//!
//! Only a checkout that waits pays for this (the wait path already arms a timer and yields to
//! the scheduler): a checkout served at first poll from an idle connection touches none of
//! these counters. The connections in use cost nothing either: they are read off the entry's
//! reference count at snapshot time.
//!
//! The figures belong to the cached entry: a tenant evicted and started again starts from
//! zero, and `started_at` says since when.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::{Serialize, Serializer};

use crate::top_k::TopK;
use crate::{DatabaseUrl, TenantId};

/// One cached tenant's counters.
pub(crate) struct Pressure {
    started_at: SystemTime,
    /// Checkouts of the tenant waiting right now.
    waiting: AtomicUsize,
    /// Checkouts that were not served at their first poll (waiting now included).
    waits: AtomicU64,
    /// Time those checkouts spent waiting, once each wait is over.
    wait_nanos: AtomicU64,
    /// Checkouts that gave up at the checkout deadline.
    timeouts: AtomicU64,
}

impl Pressure {
    /// The counters of a tenant starting now.
    pub(crate) fn new() -> Self {
        Self {
            started_at: SystemTime::now(),
            waiting: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            wait_nanos: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    /// A checkout starts waiting; the wait ends when the returned mark is dropped (served,
    /// timed out, failed or cancelled alike).
    pub(crate) fn begin_wait(&self) -> Waiting<'_> {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting {
            pressure: self,
            since: Instant::now(),
        }
    }

    /// A checkout gave up at its deadline.
    pub(crate) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkouts waiting right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The figures of `tenant`, served from `target`, holding `in_use` connections.
    pub(crate) fn stats(
        &self,
        tenant: &TenantId,
        target: &DatabaseUrl,
        in_use: usize,
    ) -> TenantStats {
        TenantStats {
            tenant: tenant.clone(),
            target: target.clone(),
            in_use,
            waiting: self.waiting(),
            waits: self.waits.load(Ordering::Relaxed),
            wait_time: Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed)),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            started_at: self.started_at,
        }
    }
}

/// A checkout's wait in progress (see [`Pressure::begin_wait`]).
pub(crate) struct Waiting<'a> {
    pressure: &'a Pressure,
    since: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let waited = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.pressure
            .wait_nanos
            .fetch_add(waited, Ordering::Relaxed);
        self.pressure.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One tenant's pressure on its pool, as [`Registry::tenant_stats`](crate::Registry::tenant_stats)
/// and the lists of [`TopTenants`] report it. Counts run from `started_at`: a tenant evicted
/// and started again starts from zero.
///
/// In JSON `wait_time` is `wait_seconds` (a number of seconds) and `started_at` an RFC 3339
/// time in UTC:
///
/// ```text
/// {"tenant": "acme", "target": "postgres://app:***@db:5432/tenant_acme", "in_use": 2,
///  "waiting": 0, "waits": 3, "wait_seconds": 0.312, "timeouts": 1,
///  "started_at": "2026-12-02T07:01:00.123Z"}
/// ```
///
/// ```no_run
/// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), tenantpool_core::Error> {
/// if let Some(acme) = registry.tenant_stats(&"acme".parse()?) {
///     assert!(acme.timeouts <= acme.waits);
///     println!("acme holds {} connections, waited {:?} in all", acme.in_use, acme.wait_time);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TenantStats {
    /// The tenant.
    pub tenant: TenantId,
    /// The database its pool connects to, password masked.
    pub target: DatabaseUrl,
    /// Connections it holds now (checked out and not yet returned).
    pub in_use: usize,
    /// Its checkouts waiting for a connection now.
    pub waiting: usize,
    /// Its checkouts that could not be served at once from an idle connection: they waited
    /// for a connection to be opened, returned, or for the tenant's fair share (those waiting
    /// now and those that timed out included).
    pub waits: u64,
    /// Time those checkouts spent waiting, once each wait was over (a wait in progress is
    /// added when it ends).
    #[serde(rename = "wait_seconds", serialize_with = "seconds")]
    pub wait_time: Duration,
    /// Its checkouts that gave up after `pool.checkout_timeout` (each also counted in
    /// `waits`).
    pub timeouts: u64,
    /// When the tenant was last started (its entry cached).
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
}

/// The busiest cached tenants of a registry: the top K (`stats.top_tenants`) by connections
/// in use and by time spent waiting, in [`Stats::tenants`](crate::Stats::tenants). A tenant
/// with nothing in use is not in `by_in_use`; one whose checkouts never waited is not in
/// `by_wait`; equal figures rank by tenant key.
///
/// ```no_run
/// # fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) {
/// let top = registry.top_tenants(5);
/// if let Some(busiest) = top.by_in_use.first() {
///     println!("{} holds {} connections", busiest.tenant, busiest.in_use);
/// }
/// assert!(top.by_wait.len() <= 5);
/// # }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct TopTenants {
    /// The tenants holding the most connections, most first.
    pub by_in_use: Vec<TenantStats>,
    /// The tenants whose checkouts waited longest in all, longest first.
    pub by_wait: Vec<TenantStats>,
}

impl TopTenants {
    /// Ranks `tenants` and keeps the top `k` of each list, in one pass: O(n log k), and
    /// nothing kept beyond the 2k results.
    pub(crate) fn rank(k: usize, tenants: impl IntoIterator<Item = TenantStats>) -> Self {
        let mut by_in_use = TopK::new(k);
        let mut by_wait = TopK::new(k);
        for t in tenants {
            if t.in_use > 0 {
                by_in_use.offer((t.in_use, Reverse(t.tenant.clone())), || t.clone());
            }
            if t.waits > 0 {
                by_wait.offer((t.wait_time, t.waits, Reverse(t.tenant.clone())), || {
                    t.clone()
                });
            }
        }
        Self {
            by_in_use: by_in_use.into_sorted(),
            by_wait: by_wait.into_sorted(),
        }
    }
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime_serde::re::humantime::format_rfc3339_millis(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(key: &str, in_use: usize, waits: u64, wait_ms: u64) -> TenantStats {
        let mut t = Pressure::new().stats(
            &TenantId::parse(key).unwrap(),
            &DatabaseUrl::parse("sqlite://x.db").unwrap(),
            in_use,
        );
        t.waits = waits;
        t.wait_time = Duration::from_millis(wait_ms);
        t
    }

    fn keys(list: &[TenantStats]) -> Vec<&str> {
        list.iter().map(|t| t.tenant.as_str()).collect()
    }

    #[test]
    fn ranks_by_in_use_and_by_wait_leaving_out_idle_and_never_waiting_tenants() {
        let top = TopTenants::rank(
            2,
            [
                figures("a", 1, 0, 0),
                figures("b", 3, 1, 10),
                figures("c", 0, 0, 0),
                figures("d", 1, 4, 500),
                figures("e", 2, 2, 20),
            ],
        );
        assert_eq!(keys(&top.by_in_use), ["b", "e"]);
        assert_eq!(keys(&top.by_wait), ["d", "e"]);
        let none = TopTenants::rank(5, [figures("a", 0, 0, 0)]);
        assert!(none.by_in_use.is_empty() && none.by_wait.is_empty());
    }

    #[test]
    fn equal_figures_rank_by_tenant_key() {
        let top = TopTenants::rank(
            3,
            [
                figures("m", 2, 1, 5),
                figures("b", 2, 1, 5),
                figures("x", 2, 1, 5),
                figures("a", 2, 1, 5),
            ],
        );
        assert_eq!(keys(&top.by_in_use), ["a", "b", "m"]);
        assert_eq!(keys(&top.by_wait), ["a", "b", "m"]);
    }

    #[test]
    fn a_wait_counts_when_it_begins_and_its_time_when_it_ends() {
        let p = Pressure::new();
        let wait = p.begin_wait();
        assert_eq!((p.waiting(), p.waits.load(Ordering::Relaxed)), (1, 1));
        std::thread::sleep(Duration::from_millis(5));
        drop(wait);
        p.timed_out();
        let t = p.stats(
            &TenantId::parse("acme").unwrap(),
            &DatabaseUrl::parse("sqlite://x.db").unwrap(),
            0,
        );
        assert_eq!((t.waiting, t.waits, t.timeouts), (0, 1, 1));
        assert!(t.wait_time >= Duration::from_millis(5), "{:?}", t.wait_time);
    }

    #[test]
    fn serialises_seconds_and_an_rfc3339_time() {
        let mut t = figures("acme", 2, 1, 1500);
        t.started_at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["wait_seconds"], 1.5);
        assert_eq!(json["started_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["tenant"], "acme");
        assert_eq!(json["in_use"], 2);
        assert!(json.get("wait_time").is_none());
    }
}
