//! What one test holds on a server while it runs: its share of the connection slots, the
//! server handle (after the CI rule), and the tag its connections carry. Most database tests
//! begin by taking these three together.

use std::time::Duration;

use tokio::sync::SemaphorePermit;

use crate::error::Error;
use crate::sampler::PeakSampler;
use crate::server::{Count, TestServer};
use crate::slots::reserve;
use crate::throwaway::Tag;

/// A test's claim on a server: [`reserve`]d slots, the server from the environment, and a
/// fresh [`Tag`]; the counting methods are about that tag.
///
/// ```no_run
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use std::time::Duration;
/// use tenantpool_testkit::{Fixture, PgServer, TestServer};
///
/// // Slots for a budget of 4, the admin session and a sampler.
/// let Some(t) = Fixture::<PgServer>::start("tp_orders", 6).await? else {
///     return Ok(()); // skipped: no server, and not under CI
/// };
/// let db = t.server.throwaway_database("tp_orders").await?;
/// let url = t.url(db.name());
/// // ... a registry on `url`, requests, shutdown ...
/// # let _ = url;
/// t.assert_no_connections(Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Fixture<S: TestServer> {
    /// The server.
    pub server: S,
    /// The tag of the test's connections.
    pub tag: Tag,
    _slots: SemaphorePermit<'static>,
}

impl<S: TestServer> Fixture<S> {
    /// Reserves `slots` (see [`reserve`]), connects to the server from the environment
    /// ([`TestServer::from_env`], with the CI rule) and makes a tag starting with `prefix`.
    /// `Ok(None)` when the test is skipped.
    ///
    /// # Panics
    ///
    /// Under CI, when the server is unreachable.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::{Fixture, MySqlServer};
    /// let Some(t) = Fixture::<MySqlServer>::start("tp_orders", 4).await? else {
    ///     return Ok(());
    /// };
    /// # drop(t);
    /// # Ok(()) }
    /// ```
    pub async fn start(prefix: &str, slots: u32) -> Result<Option<Self>, Error> {
        let slots = reserve(slots).await;
        let Some(server) = S::from_env().await else {
            return Ok(None);
        };
        let tag = server.tag(prefix).await?;
        Ok(Some(Self {
            server,
            tag,
            _slots: slots,
        }))
    }

    /// A URL for `database` whose connections carry the tag.
    ///
    /// ```no_run
    /// # async fn run(t: tenantpool_testkit::Fixture<tenantpool_testkit::PgServer>) {
    /// assert!(t.url("orders").contains(t.tag.name()));
    /// # }
    /// ```
    pub fn url(&self, database: &str) -> String {
        self.server.url(database, &self.tag)
    }

    /// Sessions the server lists for the tag.
    ///
    /// ```no_run
    /// # async fn run(t: tenantpool_testkit::Fixture<tenantpool_testkit::PgServer>) -> Result<(), tenantpool_testkit::Error> {
    /// assert_eq!(t.count().await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn count(&self) -> Result<i64, Error> {
        self.server.count(&self.tag).await
    }

    /// Waits (up to `timeout`) until no session of the tag is listed; see
    /// [`TestServer::wait_for_zero`].
    ///
    /// ```no_run
    /// # async fn run(t: tenantpool_testkit::Fixture<tenantpool_testkit::PgServer>) -> Result<(), tenantpool_testkit::Error> {
    /// let (left, took) = t.wait_for_zero(std::time::Duration::from_secs(5)).await?;
    /// assert_eq!(left, 0, "left after {took:?}");
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_zero(&self, timeout: Duration) -> Result<(i64, Duration), Error> {
        self.server.wait_for_zero(&self.tag, timeout).await
    }

    /// "No connection leaked" for the tag; see [`TestServer::assert_no_connections`].
    ///
    /// ```no_run
    /// # async fn run(t: tenantpool_testkit::Fixture<tenantpool_testkit::PgServer>) -> Result<(), tenantpool_testkit::Error> {
    /// t.assert_no_connections(std::time::Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn assert_no_connections(&self, within: Duration) -> Result<Duration, Error> {
        self.server.assert_no_connections(&self.tag, within).await
    }

    /// Samples `count` for the tag; see [`TestServer::sampler`].
    ///
    /// ```no_run
    /// # async fn run(t: tenantpool_testkit::Fixture<tenantpool_testkit::PgServer>) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::Count;
    /// let sampler = t.sampler(Count::Tagged).await?;
    /// let peak = sampler.finish().await?.peak;
    /// # let _ = peak;
    /// # Ok(()) }
    /// ```
    pub async fn sampler(&self, count: Count) -> Result<PeakSampler, Error> {
        self.server.sampler(&self.tag, count).await
    }
}
