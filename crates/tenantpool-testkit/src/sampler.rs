//! Peak sampling: a count taken every few milliseconds in the background while a test (or a
//! benchmark) runs its load, remembering the largest value seen. A bound such as "never more
//! connections than the budget" holds at every instant, not just at the end.
//!
//! The sampler runs on a thread of its own with its own runtime, so that a busy test runtime
//! (or a blocked current-thread one) does not thin out the samples.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::Error;

/// One sample: the count that is bounded, and a wider count taken at the same instant (all
/// sessions the server lists for a tag, or all client sessions), reported beside it.
///
/// ```
/// use tenantpool_testkit::Reading;
///
/// let r: Reading = (3, 5).into();
/// assert_eq!((r.count, r.wider), (3, 5));
/// assert_eq!(Reading::from(4), Reading { count: 4, wider: 4 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The count the sampler's limit and peak are about.
    pub count: i64,
    /// A wider count of the same instant; equal to `count` when there is none.
    pub wider: i64,
}

impl From<i64> for Reading {
    fn from(count: i64) -> Self {
        Self {
            count,
            wider: count,
        }
    }
}

impl From<(i64, i64)> for Reading {
    fn from((count, wider): (i64, i64)) -> Self {
        Self { count, wider }
    }
}

/// What a sampling closure may return: a count, a `(count, wider)` pair, a [`Reading`], or
/// any of them in a `Result` (an error stops the sampler, and [`PeakSampler::finish`]
/// returns it).
///
/// ```
/// use tenantpool_testkit::{Error, IntoReading, Reading};
///
/// assert_eq!(7.into_reading().ok(), Some(Reading::from(7)));
/// let failed: Result<i64, Error> = Err(Error::Background("count failed".into()));
/// assert!(failed.into_reading().is_err());
/// ```
pub trait IntoReading {
    /// The reading, or the error that stops the sampler.
    ///
    /// ```
    /// use tenantpool_testkit::IntoReading;
    /// assert_eq!((2, 5).into_reading().map(|r| r.wider).ok(), Some(5));
    /// ```
    fn into_reading(self) -> Result<Reading, Error>;
}

impl IntoReading for i64 {
    fn into_reading(self) -> Result<Reading, Error> {
        Ok(self.into())
    }
}

impl IntoReading for (i64, i64) {
    fn into_reading(self) -> Result<Reading, Error> {
        Ok(self.into())
    }
}

impl IntoReading for Reading {
    fn into_reading(self) -> Result<Reading, Error> {
        Ok(self)
    }
}

impl<T: IntoReading> IntoReading for Result<T, Error> {
    fn into_reading(self) -> Result<Reading, Error> {
        self.and_then(IntoReading::into_reading)
    }
}

/// What a sampler saw, from [`PeakSampler::finish`].
///
/// ```
/// use tenantpool_testkit::Peaks;
///
/// let seen = Peaks::default();
/// assert_eq!((seen.peak, seen.samples), (0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Peaks {
    /// The largest `count` sampled.
    pub peak: i64,
    /// The largest `wider` count sampled.
    pub wider_peak: i64,
    /// How many samples were taken.
    pub samples: u64,
    /// Samples whose `count` exceeded the limit (0 without a limit).
    pub over_limit: u64,
    /// The mean `count` over all samples.
    pub mean: f64,
    /// The mean time between two samples.
    pub interval: Duration,
}

/// Options of a [`PeakSampler`]: how often it samples and the limit it tallies.
///
/// ```
/// use std::time::Duration;
/// use tenantpool_testkit::PeakSampler;
///
/// let options = PeakSampler::builder().every(Duration::from_millis(5)).limit(20);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct SamplerBuilder {
    every: Duration,
    limit: Option<i64>,
}

impl Default for SamplerBuilder {
    fn default() -> Self {
        Self {
            every: Duration::from_millis(2),
            limit: None,
        }
    }
}

impl SamplerBuilder {
    /// The period between two samples (2 ms by default). A sample that takes longer
    /// delays the next one rather than bunching them up.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = tenantpool_testkit::PeakSampler::builder().every(Duration::from_millis(10));
    /// # let _ = options;
    /// ```
    pub fn every(mut self, period: Duration) -> Self {
        self.every = period;
        self
    }

    /// Counts the samples above `limit` into [`Peaks::over_limit`].
    ///
    /// ```
    /// let options = tenantpool_testkit::PeakSampler::builder().limit(4);
    /// # let _ = options;
    /// ```
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Starts sampling `count`, a closure (or async closure) called once per period on the
    /// sampler's thread.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// use std::sync::atomic::{AtomicI64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let open = Arc::new(AtomicI64::new(3));
    /// let seen = open.clone();
    /// let sampler = tenantpool_testkit::PeakSampler::builder()
    ///     .limit(2)
    ///     .start(move || {
    ///         let n = seen.load(Ordering::Relaxed);
    ///         async move { n }
    ///     })
    ///     .await?;
    /// tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    /// let peaks = sampler.finish().await?;
    /// assert_eq!(peaks.peak, 3);
    /// assert_eq!(peaks.over_limit, peaks.samples);
    /// # Ok(()) }
    /// ```
    pub async fn start<F, R>(self, count: F) -> Result<PeakSampler, Error>
    where
        F: AsyncFnMut() -> R + Send + 'static,
        R: IntoReading,
    {
        self.start_with(move || async move { Ok(count) }).await
    }

    /// Starts a sampler whose state must live on its own thread: `setup` runs there first
    /// (it typically opens the connection the samples are taken on, whose driver then runs
    /// on the sampler's runtime) and returns the counting closure. Returns once `setup` has
    /// finished, so that sampling covers everything the caller does next.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run() -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::{PeakSampler, PgServer, TestServer};
    ///
    /// let url = PgServer::url_from_env();
    /// let sampler = PeakSampler::builder()
    ///     .start_with(move || async move {
    ///         let server = PgServer::connect(&url).await?;
    ///         Ok(async move || server.count_with_total("tp_bench").await)
    ///     })
    ///     .await?;
    /// // ... the load ...
    /// let peaks = sampler.finish().await?;
    /// println!("{} tagged, {} in all", peaks.peak, peaks.wider_peak);
    /// # Ok(()) }
    /// ```
    pub async fn start_with<S, SFut, F, R>(self, setup: S) -> Result<PeakSampler, Error>
    where
        S: FnOnce() -> SFut + Send + 'static,
        SFut: Future<Output = Result<F, Error>>,
        F: AsyncFnMut() -> R,
        R: IntoReading,
    {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("testkit-sampler".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::Background(format!("no runtime: {e}"))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let count = match setup().await {
                        Ok(count) => count,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let _ = done_tx.send(self.sample(count, &state).await);
                });
            })
            .map_err(|e| Error::Background(format!("cannot start its thread: {e}")))?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(PeakSampler {
                shared,
                done: Some(done_rx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Background("its thread ended during setup".into())),
        }
    }

    async fn sample<F, R>(self, mut count: F, state: &Shared) -> Result<Peaks, Error>
    where
        F: AsyncFnMut() -> R,
        R: IntoReading,
    {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let (mut sum, mut over_limit) = (0i128, 0u64);
        while !state.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let reading = count().await.into_reading()?;
            state.peak.fetch_max(reading.count, Ordering::Relaxed);
            state.wider_peak.fetch_max(reading.wider, Ordering::Relaxed);
            state.samples.fetch_add(1, Ordering::Relaxed);
            sum += i128::from(reading.count);
            if self.limit.is_some_and(|limit| reading.count > limit) {
                over_limit += 1;
            }
        }
        let samples = state.samples.load(Ordering::Relaxed);
        let (mean, interval) = match u32::try_from(samples) {
            Ok(n) if n > 0 => (sum as f64 / f64::from(n), started.elapsed() / n),
            _ => (0.0, Duration::ZERO),
        };
        Ok(Peaks {
            peak: state.peak.load(Ordering::Relaxed),
            wider_peak: state.wider_peak.load(Ordering::Relaxed),
            samples,
            over_limit,
            mean,
            interval,
        })
    }
}

#[derive(Default)]
struct Shared {
    peak: AtomicI64,
    wider_peak: AtomicI64,
    samples: AtomicU64,
    stop: AtomicBool,
}

/// A running sampler; see [`SamplerBuilder`] for how to start one and the server handles'
/// `sampler` for the usual connection counts. Dropping it without [`finish`](Self::finish)
/// stops it too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::PeakSampler;
///
/// let sampler = PeakSampler::start(|| async { 1 }).await?;
/// tokio::time::sleep(std::time::Duration::from_millis(20)).await;
/// assert_eq!(sampler.peak(), 1);
/// let peaks = sampler.finish().await?;
/// assert!(peaks.samples > 0);
/// # Ok(()) }
/// ```
pub struct PeakSampler {
    shared: Arc<Shared>,
    done: Option<oneshot::Receiver<Result<Peaks, Error>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    /// Options other than the defaults (a sample every 2 ms, no limit).
    ///
    /// ```
    /// let options = tenantpool_testkit::PeakSampler::builder().limit(10);
    /// # let _ = options;
    /// ```
    pub fn builder() -> SamplerBuilder {
        SamplerBuilder::default()
    }

    /// Starts sampling `count` with the default options; see [`SamplerBuilder::start`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let sampler = tenantpool_testkit::PeakSampler::start(|| async { 2 }).await?;
    /// # drop(sampler);
    /// # Ok(()) }
    /// ```
    pub async fn start<F, R>(count: F) -> Result<Self, Error>
    where
        F: AsyncFnMut() -> R + Send + 'static,
        R: IntoReading,
    {
        Self::builder().start(count).await
    }

    /// The peak so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let sampler = tenantpool_testkit::PeakSampler::start(|| async { 5 }).await?;
    /// assert!(sampler.peak() <= 5);
    /// # Ok(()) }
    /// ```
    pub fn peak(&self) -> i64 {
        self.shared.peak.load(Ordering::Relaxed)
    }

    /// The number of samples so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let sampler = tenantpool_testkit::PeakSampler::start(|| async { 0 }).await?;
    /// tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    /// assert!(sampler.samples() > 0);
    /// # Ok(()) }
    /// ```
    pub fn samples(&self) -> u64 {
        self.shared.samples.load(Ordering::Relaxed)
    }

    /// Stops sampling and returns what was seen, or the error that stopped the sampler.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let sampler = tenantpool_testkit::PeakSampler::start(|| async { (1, 3) }).await?;
    /// tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    /// let peaks = sampler.finish().await?;
    /// assert_eq!((peaks.peak, peaks.wider_peak), (1, 3));
    /// # Ok(()) }
    /// ```
    pub async fn finish(mut self) -> Result<Peaks, Error> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let done = match self.done.take() {
            Some(done) => done.await,
            None => return Err(Error::Background("already finished".into())),
        };
        if let Some(thread) = self.thread.take() {
            // The result has been sent: the thread is at its end.
            let _ = thread.join();
        }
        done.unwrap_or_else(|_| Err(Error::Background("its thread panicked".into())))
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PeakSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeakSampler")
            .field("peak", &self.peak())
            .field("samples", &self.samples())
            .finish_non_exhaustive()
    }
}
