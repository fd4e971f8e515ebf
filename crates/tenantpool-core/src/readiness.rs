//! Readiness: whether a registry can serve now, for a load balancer to ask.
//!
//! A registry is ready while every database server it has started a tenant on
//!
//! 1. accepted a connection within `readiness.recent` (a connect, or a checkout of one of its
//!    pooled connections), or, when it has been quiet for longer (an idle service), accepts
//!    one real connection now (a *probe*), and
//! 2. has not had its connection budget exhausted for longer than `readiness.exhausted_for`.
//!
//! The facts are kept per server, next to its budget ([`ServerSignals`]): recording them
//! costs a checkout one load of a flag that is almost always set already (and a store when it
//! is not), a connect one clock read, and a creator that waits on a full budget one
//! compare-and-swap. Everything else happens when readiness is asked (see
//! `registry/readiness.rs`) or on the maintenance tick.
//!
//! Liveness is another question ("is the process alive?") with another answer: a process
//! whose database is down is alive but not ready.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::ReadinessSettings;
use crate::ServerKey;

/// Whether a registry can serve now, and why not; serialises to the JSON the web adapters'
/// readiness handlers answer with.
///
/// ```json
/// {
///   "ready": false,
///   "servers": [{"server": "postgres://db:5432", "ready": false, "last_accepted_ms_ago": 41250,
///                "exhausted_ms": null, "open": 0, "limit": 80, "probe": "failed"}],
///   "reasons": [{"server": "postgres://db:5432", "cause": "no_recent_connection",
///                "for_ms": 41250, "message": "postgres://db:5432: no connection accepted for 41 s: connection refused"}]
/// }
/// ```
///
/// ```no_run
/// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) {
/// let readiness = registry.readiness().await;
/// if !readiness.ready {
///     for reason in &readiness.reasons {
///         eprintln!("not ready: {}", reason.message);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// True when `reasons` is empty.
    pub ready: bool,
    /// One entry per database server the registry has started a tenant on, sorted.
    pub servers: Vec<ServerReadiness>,
    /// Why the registry is not ready; empty when it is.
    pub reasons: Vec<NotReady>,
}

impl Readiness {
    /// A report from per-server findings and the reasons against readiness.
    ///
    /// ```
    /// let r = tenantpool_core::Readiness::new(Vec::new(), Vec::new());
    /// assert!(r.ready);
    /// ```
    pub fn new(servers: Vec<ServerReadiness>, reasons: Vec<NotReady>) -> Self {
        Self {
            ready: reasons.is_empty(),
            servers,
            reasons,
        }
    }

    /// One report out of several (the registries behind one service: a primary and a
    /// replica, a PostgreSQL and a MySQL registry): ready when every part is.
    ///
    /// ```
    /// use tenantpool_core::Readiness;
    /// let both = Readiness::combine([Readiness::new(vec![], vec![]), Readiness::new(vec![], vec![])]);
    /// assert!(both.ready);
    /// ```
    pub fn combine(parts: impl IntoIterator<Item = Readiness>) -> Self {
        let (mut servers, mut reasons) = (Vec::new(), Vec::new());
        for part in parts {
            servers.extend(part.servers);
            reasons.extend(part.reasons);
        }
        Self::new(servers, reasons)
    }
}

/// What readiness found about one database server.
///
/// ```
/// # fn f(s: &tenantpool_core::ServerReadiness) {
/// assert!(s.open <= s.limit);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerReadiness {
    /// The server (`scheme://host:port`): no credentials, no database name.
    pub server: ServerKey,
    /// Whether this server stands in the way of readiness: false when a reason names it.
    pub ready: bool,
    /// How long ago the server last accepted a connection, in milliseconds (`None`: never,
    /// as far as this process knows).
    pub last_accepted_ms_ago: Option<u64>,
    /// How long its budget has been exhausted, in milliseconds (`None`: it is not).
    pub exhausted_ms: Option<u64>,
    /// Connections open (or connecting) on it.
    pub open: usize,
    /// Its budget.
    pub limit: usize,
    /// The probe this call made or reused; `None` when the server was recent enough.
    pub probe: Option<ProbeOutcome>,
}

/// The outcome of a readiness probe: one real connection to a server that had accepted none
/// within `readiness.recent`.
///
/// ```
/// assert_eq!(serde_json::to_string(&tenantpool_core::ProbeOutcome::BudgetFull).unwrap(), "\"budget_full\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeOutcome {
    /// The server accepted the connection (a server that answers "no such database" counts:
    /// it is up and talking); the connection was closed again.
    Accepted,
    /// The connect failed; the reason says how, in general terms.
    Failed,
    /// No probe: every permit of the server's budget is held by an open connection or a
    /// connect in progress, and a probe would exceed the budget. A full budget is a sign of
    /// use, not of an outage; if creators wait on it for longer than `exhausted_for`, the
    /// exhaustion makes the registry not ready.
    BudgetFull,
}

/// One reason why a registry is not ready.
///
/// ```
/// # fn f(r: &tenantpool_core::NotReady) {
/// println!("{}", r.message);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NotReady {
    /// The server it is about (`None` for the registry as a whole).
    pub server: Option<ServerKey>,
    /// What is wrong.
    pub cause: NotReadyCause,
    /// How long it has been so, in milliseconds, when known.
    pub for_ms: Option<u64>,
    /// The same in words, naming the server; never a password, a database or a tenant.
    pub message: String,
}

/// What keeps a registry from being ready.
///
/// ```
/// let c = tenantpool_core::NotReadyCause::BudgetExhausted;
/// assert_eq!(serde_json::to_string(&c).unwrap(), "\"budget_exhausted\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotReadyCause {
    /// The server accepted no connection within `readiness.recent`, and the probe failed.
    NoRecentConnection,
    /// The server's budget has been exhausted for longer than `readiness.exhausted_for`.
    BudgetExhausted,
    /// The registry is shutting down.
    ShuttingDown,
}

impl NotReady {
    /// The registry is shutting down.
    pub(crate) fn shutting_down() -> Self {
        Self {
            server: None,
            cause: NotReadyCause::ShuttingDown,
            for_ms: None,
            message: "the registry is shutting down".into(),
        }
    }
}

/// The readiness facts of one server, kept next to its budget and shared by every pool (and
/// every registry) drawing on it. Times are nanoseconds after `origin`, plus one, so that 0
/// can mean "never".
pub(crate) struct ServerSignals {
    origin: Instant,
    /// When the server last accepted a connection, as far as recorded.
    last_accepted: AtomicU64,
    /// A checkout happened since `last_accepted` was last written: the checkout path only
    /// raises the flag, and the maintenance tick or a readiness call turns it into a time.
    checked_out: AtomicBool,
    /// Since when creators have found the budget full and waited (0: they do not).
    exhausted_since: AtomicU64,
}

impl ServerSignals {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_accepted: AtomicU64::new(0),
            checked_out: AtomicBool::new(false),
            exhausted_since: AtomicU64::new(0),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        (stamp != 0).then(|| self.origin + Duration::from_nanos(stamp - 1))
    }

    /// The server accepted a connection now (a connect, or a probe).
    pub(crate) fn accepted_now(&self) {
        self.last_accepted
            .fetch_max(self.stamp(Instant::now()), Ordering::AcqRel);
    }

    /// A checkout handed out one of the server's connections: the hot path's hook. A load,
    /// and a store only when the flag was down (once per maintenance tick per server).
    #[inline]
    pub(crate) fn note_checkout(&self) {
        if !self.checked_out.load(Ordering::Relaxed) {
            self.checked_out.store(true, Ordering::Relaxed);
        }
    }

    /// Turns a checkout noted since the last call into an acceptance time (now): called on
    /// every maintenance tick and by readiness, so the time is late by at most one tick.
    pub(crate) fn absorb_checkouts(&self) {
        if self.checked_out.swap(false, Ordering::AcqRel) {
            self.accepted_now();
        }
    }

    /// When the server last accepted a connection.
    pub(crate) fn last_accepted(&self) -> Option<Instant> {
        self.instant(self.last_accepted.load(Ordering::Acquire))
    }

    /// A creator found the budget full and waits: the exhaustion starts now unless it
    /// already has.
    pub(crate) fn exhausted(&self) {
        let now = self.stamp(Instant::now());
        let _ = self
            .exhausted_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A permit was handed out and no creator waits any more: the budget has freed.
    pub(crate) fn freed(&self) {
        if self.exhausted_since.load(Ordering::Acquire) != 0 {
            self.exhausted_since.store(0, Ordering::Release);
        }
    }

    /// Since when the budget has been exhausted, if it is.
    pub(crate) fn exhausted_since(&self) -> Option<Instant> {
        self.instant(self.exhausted_since.load(Ordering::Acquire))
    }
}

/// What readiness knows about one server at the moment it is asked.
#[derive(Debug, Clone)]
pub(crate) struct ServerFacts {
    pub(crate) server: ServerKey,
    pub(crate) last_accepted: Option<Instant>,
    pub(crate) exhausted_since: Option<Instant>,
    pub(crate) open: usize,
    pub(crate) limit: usize,
    /// The probe made or reused, and for a failed one the failure in general terms.
    pub(crate) probe: Option<(ProbeOutcome, Option<String>)>,
}

/// Judges one server's facts at `now` against the settings: what the report says about it,
/// and the reasons against readiness it gives.
pub(crate) fn assess(
    facts: ServerFacts,
    now: Instant,
    settings: &ReadinessSettings,
) -> (ServerReadiness, Vec<NotReady>) {
    let ago = facts
        .last_accepted
        .map(|at| now.saturating_duration_since(at));
    let exhausted = facts
        .exhausted_since
        .map(|at| now.saturating_duration_since(at));
    let mut reasons = Vec::new();
    let recent = ago.is_some_and(|ago| ago <= settings.recent);
    let probe_failed = matches!(facts.probe, Some((ProbeOutcome::Failed, _)));
    if !recent && probe_failed {
        let why = facts
            .probe
            .as_ref()
            .and_then(|(_, why)| why.as_deref())
            .unwrap_or("connect failed");
        let message = match ago {
            Some(ago) => format!(
                "{}: no connection accepted for {}: {why}",
                facts.server,
                seconds(ago)
            ),
            None => format!("{}: no connection accepted yet: {why}", facts.server),
        };
        reasons.push(NotReady {
            server: Some(facts.server.clone()),
            cause: NotReadyCause::NoRecentConnection,
            for_ms: ago.map(millis),
            message,
        });
    }
    if let Some(exhausted) = exhausted.filter(|e| *e > settings.exhausted_for) {
        reasons.push(NotReady {
            server: Some(facts.server.clone()),
            cause: NotReadyCause::BudgetExhausted,
            for_ms: Some(millis(exhausted)),
            message: format!(
                "{}: budget exhausted for {} ({} of {} connections open)",
                facts.server,
                seconds(exhausted),
                facts.open,
                facts.limit
            ),
        });
    }
    let server = ServerReadiness {
        server: facts.server,
        ready: reasons.is_empty(),
        last_accepted_ms_ago: ago.map(millis),
        exhausted_ms: exhausted.map(millis),
        open: facts.open,
        limit: facts.limit,
        probe: facts.probe.map(|(probe, _)| probe),
    };
    (server, reasons)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `41 s`, or `0.4 s` below ten seconds: how the messages say a duration.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn facts(last: Option<Duration>, exhausted: Option<Duration>, now: Instant) -> ServerFacts {
        ServerFacts {
            server: ServerKey(Arc::from("postgres://db:5432")),
            last_accepted: last.map(|ago| now - ago),
            exhausted_since: exhausted.map(|ago| now - ago),
            open: 3,
            limit: 4,
            probe: None,
        }
    }

    fn settings() -> ReadinessSettings {
        ReadinessSettings {
            recent: Duration::from_secs(30),
            exhausted_for: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_recent_server_with_a_free_budget_is_ready() {
        let now = Instant::now() + Duration::from_secs(100);
        let (server, reasons) = assess(
            facts(Some(Duration::from_secs(2)), None, now),
            now,
            &settings(),
        );
        assert!(reasons.is_empty());
        assert!(server.ready);
        assert_eq!(server.last_accepted_ms_ago, Some(2000));
    }

    #[test]
    fn a_failed_probe_of_a_quiet_server_names_the_server_and_how_long() {
        let now = Instant::now() + Duration::from_secs(100);
        let mut f = facts(Some(Duration::from_millis(41_300)), None, now);
        f.probe = Some((ProbeOutcome::Failed, Some("connection refused".into())));
        let (server, reasons) = assess(f, now, &settings());
        assert!(!server.ready);
        assert_eq!(reasons[0].cause, NotReadyCause::NoRecentConnection);
        assert_eq!(
            reasons[0].message,
            "postgres://db:5432: no connection accepted for 41 s: connection refused"
        );
    }

    #[test]
    fn an_exhaustion_counts_only_past_its_window() {
        let now = Instant::now() + Duration::from_secs(100);
        let recent = Some(Duration::from_secs(1));
        let (_, within) = assess(
            facts(recent, Some(Duration::from_secs(9)), now),
            now,
            &settings(),
        );
        assert!(within.is_empty());
        let (server, past) = assess(
            facts(recent, Some(Duration::from_secs(12)), now),
            now,
            &settings(),
        );
        assert_eq!(server.exhausted_ms, Some(12_000));
        assert_eq!(
            past[0].message,
            "postgres://db:5432: budget exhausted for 12 s (3 of 4 connections open)"
        );
    }

    #[test]
    fn signals_turn_a_noted_checkout_into_a_time_and_clear_a_freed_exhaustion() {
        let signals = ServerSignals::new();
        assert_eq!(signals.last_accepted(), None);
        signals.note_checkout();
        let before = Instant::now();
        signals.absorb_checkouts();
        assert!(signals.last_accepted().is_some_and(|at| at >= before));
        signals.exhausted();
        let since = signals.exhausted_since();
        signals.exhausted();
        assert_eq!(
            signals.exhausted_since(),
            since,
            "a second waiter moved the start"
        );
        signals.freed();
        assert_eq!(signals.exhausted_since(), None);
    }
}
