//! Server-side connection counts, through tenantpool's test kit: a sampler polling
//! `pg_stat_activity` every few milliseconds from a connection of its own (in the driver's
//! process, not the server's), and the wait for a stopped server's connections to close.

use std::time::Duration;

use serde::Serialize;
use tenantpool::testkit::{Count, PeakSampler, Peaks, PgServer, TestServer};

use crate::Result;

/// What the sampler saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// Polls made.
    pub samples: u64,
    /// Most connections tagged with the variant's `application_name` at one poll.
    pub max_app: i64,
    /// Most client connections of any kind at one poll (the sampler's own excluded).
    pub max_total: i64,
    /// Polls that saw more tagged connections than the budget.
    pub over_budget: u64,
    /// Mean tagged connections per poll.
    pub mean_app: f64,
    /// Mean time between polls, in milliseconds.
    pub mean_interval_ms: f64,
}

impl From<Peaks> for Samples {
    fn from(p: Peaks) -> Self {
        Self {
            samples: p.samples,
            max_app: p.peak,
            max_total: p.wider_peak,
            over_budget: p.over_limit,
            mean_app: p.mean,
            mean_interval_ms: p.interval.as_secs_f64() * 1000.0,
        }
    }
}

/// Waits until no connection tagged `app` is left on the server at `pg` (a stopped server's
/// connections close); returns how many are left.
pub async fn wait_drained(pg: &str, app: &str, limit: Duration) -> Result<i64> {
    let server = PgServer::connect(pg).await?;
    let (left, _) = server.wait_for_zero(app, limit).await?;
    Ok(left)
}

/// A running sampler.
pub struct Sampler(PeakSampler);

impl Sampler {
    /// Starts polling the server at `pg` every `every`, counting connections tagged `app` (and
    /// all client connections), and the polls that saw more tagged ones than `budget`.
    pub async fn start(pg: &str, app: &str, every: Duration, budget: Option<i64>) -> Result<Self> {
        let server = PgServer::connect(pg).await?;
        let mut options = PeakSampler::builder().every(every);
        if let Some(budget) = budget {
            options = options.limit(budget);
        }
        Ok(Self(
            server.sampler_with(options, app, Count::WithTotal).await?,
        ))
    }

    /// Stops polling and returns what was seen.
    pub async fn finish(self) -> Result<Samples> {
        Ok(self.0.finish().await?.into())
    }
}
