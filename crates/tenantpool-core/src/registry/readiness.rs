//! [`Registry::readiness`]: every server the registry has built a pool on, judged by the
//! signals its budget keeps (see `crate::readiness`), with at most one probe per quiet
//! server at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Registry;
use crate::backend::{Backend, ConnectContext, ConnectFailure};
use crate::budget::ServerBudget;
use crate::lock::lock;
use crate::readiness::{assess, NotReady, ProbeOutcome, Readiness, ServerFacts};
use crate::stats::Counters;
use crate::{DatabaseUrl, IoRuntime, ServerKey};

/// How long at most a probe's outcome answers later readiness calls (shorter when
/// `readiness.recent` is): concurrent calls, and a load balancer asking every few hundred
/// milliseconds, cost the server one connection per server and period, not one per call.
const PROBE_REUSE: Duration = Duration::from_secs(1);

/// A probe's outcome, and for a failed one the failure in general terms.
type Outcome = (ProbeOutcome, Option<String>);

/// One server's latest probe and when it finished, behind an async lock that single-flights
/// the next.
type ProbeSlot = Arc<tokio::sync::Mutex<Option<(Instant, Outcome)>>>;

/// The probe slot of each server.
#[derive(Default)]
pub(super) struct Probes {
    servers: Mutex<HashMap<ServerKey, ProbeSlot>>,
}

impl Probes {
    /// The outcome of a probe of `url`'s server made at most `reuse` ago, or of a new one
    /// (which concurrent callers wait for and share).
    async fn probe<C: Backend>(
        &self,
        budget: &ServerBudget,
        url: &DatabaseUrl,
        reuse: Duration,
        probe: ProbeParts<'_>,
    ) -> Outcome {
        let slot = lock(&self.servers)
            .entry(budget.server().clone())
            .or_default()
            .clone();
        let mut last = slot.lock().await;
        if let Some((at, outcome)) = &*last {
            if at.elapsed() < reuse {
                return outcome.clone();
            }
        }
        let outcome = probe_once::<C>(budget, url, probe).await;
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

/// What a probe connects with.
#[derive(Clone, Copy)]
struct ProbeParts<'a> {
    io: &'a IoRuntime,
    timeout: Duration,
    counters: &'a Counters,
}

/// One real connection to the server, within its budget and the connect timeout, closed at
/// once. A server that answers "no such database" is up: the target's database may have
/// been dropped since, and that is no reason to take the service out of rotation.
async fn probe_once<C: Backend>(
    budget: &ServerBudget,
    url: &DatabaseUrl,
    parts: ProbeParts<'_>,
) -> Outcome {
    let Some(permit) = budget.try_acquire_now() else {
        return (ProbeOutcome::BudgetFull, None);
    };
    Counters::bump(&parts.counters.readiness_probes);
    let ctx = ConnectContext {
        io: parts.io.clone(),
        permit,
        timeout: parts.timeout,
        create_missing: false,
    };
    match C::connect(url.clone(), ctx).await {
        Ok((conn, permit)) => {
            budget.record_success();
            // Released only once the server-side session is gone, like any pooled one.
            conn.close(permit, parts.io, true);
            (ProbeOutcome::Accepted, None)
        }
        Err(ConnectFailure::DatabaseMissing) => {
            budget.record_success();
            (ProbeOutcome::Accepted, None)
        }
        Err(failure) => {
            tracing::warn!(
                server = %budget.server(),
                error = %url.redact(&failure.to_string()),
                "readiness probe failed"
            );
            (ProbeOutcome::Failed, Some(failure_summary(&failure)))
        }
    }
}

impl<C: Backend> Registry<C> {
    /// Whether the registry can serve now: every database server it has built a pool on
    /// accepted a connection within `readiness.recent`, and none has had its budget exhausted
    /// for longer than `readiness.exhausted_for` (see [`Readiness`] for the JSON, and
    /// docs/observability.md).
    ///
    /// A server quieter than `readiness.recent` (an idle service) is probed: one real
    /// connection to the latest target the registry built a pool for on it, inside the
    /// server's budget, bounded by `pool.connect_timeout`, closed at once. Concurrent calls
    /// share one probe per server, and a probe's outcome answers the calls of the next second
    /// (or of `readiness.recent`, when shorter). When every permit of the budget is held, no
    /// probe is made ([`ProbeOutcome::BudgetFull`](crate::ProbeOutcome::BudgetFull)): the
    /// connections are in use, and a budget that stays full while creators wait is caught by
    /// `exhausted_for`.
    ///
    /// A registry that has built no pool yet (no tenant started) has nothing to be unready
    /// about: it is ready, with no servers. A registry shutting down is not ready.
    ///
    /// ```no_run
    /// # async fn f(registry: tenantpool_core::Registry<diesel_async::AsyncPgConnection>) {
    /// let readiness = registry.readiness().await;
    /// println!("{}", serde_json::to_string(&readiness).unwrap());
    /// # }
    /// ```
    pub async fn readiness(&self) -> Readiness {
        let inner = &self.inner;
        if inner.cache.is_closed() {
            return Readiness::new(Vec::new(), vec![NotReady::shutting_down()]);
        }
        let settings = &inner.settings.readiness;
        let parts = ProbeParts {
            io: inner.pools.io(),
            timeout: inner.settings.pool.connect_timeout,
            counters: &inner.counters,
        };
        let reuse = PROBE_REUSE.min(settings.recent);
        let checks = inner.pools.servers().into_iter().map(|(server, url)| {
            let budget = inner.pools.budgets().for_server(&server);
            async move {
                let signals = budget.signals();
                signals.absorb_checkouts();
                let quiet = signals
                    .last_accepted()
                    .is_none_or(|at| at.elapsed() > settings.recent);
                let probe = if quiet {
                    Some(inner.probes.probe::<C>(&budget, &url, reuse, parts).await)
                } else {
                    None
                };
                ServerFacts {
                    server,
                    last_accepted: signals.last_accepted(),
                    exhausted_since: budget.exhausted_since(),
                    open: budget.open(),
                    limit: budget.limit(),
                    probe,
                }
            }
        });
        let facts = futures_util::future::join_all(checks).await;
        let now = Instant::now();
        let (mut servers, mut reasons) = (Vec::new(), Vec::new());
        for f in facts {
            let (server, against) = assess(f, now, settings);
            servers.push(server);
            reasons.extend(against);
        }
        Readiness::new(servers, reasons)
    }
}

/// A failed connect in general terms, for a body that anyone may read: the driver's text can
/// name a user, a database or a host the server reported, so only its kind is kept.
pub(crate) fn failure_summary(failure: &ConnectFailure) -> String {
    match failure {
        ConnectFailure::DatabaseMissing => "the database does not exist".into(),
        ConnectFailure::Timeout(d) => format!(
            "connect timed out after {}",
            humantime_serde::re::humantime::format_duration(*d)
        ),
        ConnectFailure::Tls(_) => "TLS could not be set up".into(),
        ConnectFailure::Unavailable(text) => {
            let text = text.to_ascii_lowercase();
            let kinds = [
                ("refused", "connection refused"),
                ("reset", "connection reset"),
                ("timed out", "connect timed out"),
                ("too many", "the server has too many connections"),
                ("authentication", "authentication failed"),
                ("password", "authentication failed"),
                ("access denied", "authentication failed"),
                ("starting up", "the server is starting up"),
                ("shutting down", "the server is shutting down"),
                ("eof", "the connection was closed during setup"),
                ("closed", "the connection was closed during setup"),
                ("broken pipe", "the connection was closed during setup"),
                ("lookup", "the host name does not resolve"),
                ("resolve", "the host name does not resolve"),
            ];
            kinds
                .iter()
                .find(|(needle, _)| text.contains(needle))
                .map_or("connect failed", |(_, kind)| kind)
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_summarised_without_the_driver_text() {
        let f = ConnectFailure::Unavailable(
            "FATAL: password authentication failed for user \"tenant_acme\"".into(),
        );
        assert_eq!(failure_summary(&f), "authentication failed");
        let f = ConnectFailure::Unavailable(
            "FATAL: no pg_hba.conf entry for host \"10.0.0.1\", user \"app\", database \"tenant_acme\""
                .into(),
        );
        assert_eq!(failure_summary(&f), "connect failed");
        let f = ConnectFailure::Unavailable("Connection refused (os error 111)".into());
        assert_eq!(failure_summary(&f), "connection refused");
        let f = ConnectFailure::Unavailable("something new with tenant_acme".into());
        assert_eq!(failure_summary(&f), "connect failed");
    }
}
