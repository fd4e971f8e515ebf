//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`):
//! Prometheus names and units, bounded labels.
//!
//! Two kinds of figures, each published where it costs least:
//!
//! ```text
//! event time (hot path)           scrape time (Registry::publish_metrics)
//! ───────────────────────         ──────────────────────────────────────────────────────
//! histograms, one handle per      counters: `counter!(..).absolute(v)` from the registry's
//! pool (server, backend):           relaxed atomics (`Counters`), bumped anyway
//!   checkout wait                 gauges: per server (open, budget, idle, in use, waiting),
//!   connect time                    cached tenants
//!   connection held               per-tenant gauges: the top K tenants by connections in
//! one per registry (backend):       use and by wait, every other tenant summed in
//!   tenant start time               tenant="_other"
//! ```
//!
//! - **Counters cost the hot path nothing new.** The registry already counts every event in
//!   relaxed atomics for its stats snapshot; publishing copies them into the recorder at scrape
//!   time with `absolute`, so a checkout does not look a counter up or touch the recorder.
//! - **Histograms are recorded where the event happens**, through handles created once per
//!   pool ([`PoolMetrics`]) and once per registry (the start time), never through a
//!   `histogram!` lookup per event. A checkout served at its first poll records a wait of 0
//!   without reading the clock; the clock is read only once it waits (the deadline's timer is
//!   armed then anyway) and at checkout and return for the held time.
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
mod names;
#[cfg(feature = "metrics")]
mod published;
mod recorded;

#[cfg(feature = "metrics")]
pub(crate) use self::names::*;
#[cfg(feature = "metrics")]
pub(crate) use self::published::{publish, ClosedFloor};
pub(crate) use self::recorded::{PoolMetrics, Since, StartMetrics, WaitClock};
