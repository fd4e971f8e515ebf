//! Server-side connection counts: polls `pg_stat_activity` every few milliseconds from a
//! connection of its own (in the driver's process, not the server's).

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

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

/// Opens a connection for the driver's own queries.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {url}: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("loadbench: a driver connection ended: {e}");
        }
    });
    Ok(client)
}

const COUNT: &str = "SELECT count(*) FILTER (WHERE application_name = $1)::int8, count(*)::int8 \
                     FROM pg_stat_activity \
                     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

/// Tagged connections open now.
pub async fn count_now(client: &Client, app: &str) -> Result<i64> {
    let row = client.query_one(COUNT, &[&app]).await?;
    Ok(row.get(0))
}

/// Waits until no connection tagged `app` is left (a stopped server's connections close).
pub async fn wait_drained(client: &Client, app: &str, limit: Duration) -> Result<i64> {
    let started = Instant::now();
    loop {
        let n = count_now(client, app).await?;
        if n == 0 || started.elapsed() >= limit {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running sampler.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Samples>>,
}

impl Sampler {
    /// Starts polling every `every`, counting connections tagged `app`.
    pub async fn start(url: &str, app: &str, every: Duration, budget: Option<i64>) -> Result<Self> {
        let client = connect(url).await?;
        let statement = client.prepare(COUNT).await?;
        let (stop, mut stopped) = watch::channel(false);
        let app = app.to_string();
        let task = tokio::spawn(async move {
            let mut out = Samples::default();
            let mut sum_app = 0i64;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let started = Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let row = client.query_one(&statement, &[&app]).await?;
                let (tagged, total): (i64, i64) = (row.get(0), row.get(1));
                out.samples += 1;
                sum_app += tagged;
                out.max_app = out.max_app.max(tagged);
                out.max_total = out.max_total.max(total);
                if budget.is_some_and(|b| tagged > b) {
                    out.over_budget += 1;
                }
            }
            if out.samples > 0 {
                out.mean_app = sum_app as f64 / out.samples as f64;
                out.mean_interval_ms =
                    started.elapsed().as_secs_f64() * 1000.0 / out.samples as f64;
            }
            Ok(out)
        });
        Ok(Self { stop, task })
    }

    /// Stops polling and returns what was seen.
    pub async fn finish(self) -> Result<Samples> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| format!("the sampler task failed: {e}"))?
    }
}
