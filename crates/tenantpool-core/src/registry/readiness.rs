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
use crate::readiness::{assess, failure_summary, NotReady, ProbeOutcome, Readiness, ServerFacts};
use crate::stats::Counters;
use crate::{DatabaseUrl, IoRuntime, ServerKey};

/// How long at most a probe's outcome answers later readiness calls (shorter when
/// `readiness.recent` is): concurrent calls, and a load balancer asking every few hundred
/// milliseconds, cost the server one connection per server and period, not one per call.
const PROBE_REUSE: Duration = Duration::from_secs(1);

/// A probe's outcome, and for a failed one the failure in general terms.
type Outcome = (ProbeOutcome, Option<String>);

/// The latest probe of each server, each behind an async lock that single-flights the next.
#[derive(Default)]
pub(super) struct Probes {
    servers: Mutex<HashMap<ServerKey, Arc<tokio::sync::Mutex<Option<(Instant, Outcome)>>>>>,
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
