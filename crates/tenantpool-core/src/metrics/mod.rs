//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`):
//! Prometheus names and units, bounded labels.
//!
//! Two kinds of figures, each published where it costs least:
//!
//! ```text
//! event time (hot path)           scrape time (Registry::publish_metrics)
//! ───────────────────────         ──────────────────────────────────────────────────────
//! histograms, one handle per      counters: `counter!(..).absolute(v)` from the registry's
//! server (server, backend):         relaxed atomics (`Counters`), bumped anyway
//!   wait of a checkout that       the checkouts served at once, as waits of 0
//!     waited                      the held times, from their buckets
//!   connect time                  gauges: per server (open, budget, idle, in use, waiting),
//! one per registry (backend):       cached tenants
//!   tenant start time             per-tenant gauges: the top K tenants by connections in
//! counted in atomics:               use and by wait, every other tenant summed in
//!   checkouts served at once        tenant="_other"
//!   held time, by bucket
//! ```
//!
//! - **Counters cost the hot path nothing new.** The registry already counts every event in
//!   relaxed atomics for its stats snapshot; publishing copies them into the recorder at scrape
//!   time with `absolute`, so a checkout does not look a counter up or touch the recorder.
//! - **Histograms are recorded where the event happens**, through handles created once per
//!   server ([`PoolMetrics`], shared by the pools on it) and once per registry (the start
//!   time), never through a `histogram!` lookup per event, except the two figures every
//!   checkout has: a checkout served at its first poll is only counted (its wait of 0 is
//!   recorded at scrape time), and the held time is counted into log-linear buckets
//!   (`buckets`) handed over at scrape time. A warm checkout reads no clock of its own: the
//!   held time starts from the held-too-long watch's clock read, and one more is made at
//!   return.
//! - **Labels are bounded.** `registry` (the name the publisher gives), `backend` and
//!   `server` (a host and port, never a password) are few. `tenant` is given only to the top
//!   K tenants (`stats.top_tenants`) by connections in use and by time waited; all other
//!   cached tenants are summed into one `tenant="_other"` series. So a registry publishes at
//!   most `2K + 1` series per per-tenant metric, whatever the number of tenants.
//! - **Per-tenant figures are gauges**, even the cumulative ones (waits, wait time,
//!   timeouts): a tenant moves in and out of the top K, and its figures move between its own
//!   series and `_other`; a counter would then go backwards. A tenant that leaves the top K
//!   stops being updated: the recorder drops its series after its idle timeout (the
//!   adapters' Prometheus recorder sets one for gauges, see `tenantpool_resolve`).
//! - **Nothing when off.** Without the feature the handles are zero-sized and their methods
//!   empty: no clock read, no field, no call on the hot path.
//!
//! The names are listed (with their labels and meaning) in `docs/observability.md`.

#[cfg(feature = "metrics")]
mod buckets;
#[cfg(feature = "metrics")]
mod names;
#[cfg(feature = "metrics")]
mod published;
mod recorded;

#[cfg(feature = "metrics")]
pub(crate) use self::names::*;
#[cfg(feature = "metrics")]
pub(crate) use self::published::{publish, ClosedFloor};
pub(crate) use self::recorded::{PoolMetrics, Since, StartMetrics, WaitClock};
