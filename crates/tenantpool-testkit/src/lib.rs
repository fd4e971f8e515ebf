//! # tenantpool-testkit
//!
//! Test helpers for code that pools database connections, against real servers: the ones
//! tenantpool's own tests use, published for your test suite. Re-exported by `tenantpool`
//! as `tenantpool::testkit` with its `testkit` feature.
//!
//! The story of a test:
//!
//! 1. **A server from the environment.** [`PgServer::from_env`] (feature `postgres`) and
//!    [`MySqlServer::from_env`] (feature `mysql`) connect to `TENANTPOOL_TEST_PG_URL` /
//!    `TENANTPOOL_TEST_MYSQL_URL` (defaults `postgres://postgres@127.0.0.1:5432`,
//!    `mysql://root@127.0.0.1:3306`). One rule, [`ci`]: when the server is unreachable, any
//!    non-empty `CI` variable makes that a panic; otherwise a loud notice is printed and
//!    you get `None`, so the test returns early.
//! 2. **Throwaway names.** [`TestServer::throwaway_database`] creates a database with a
//!    [`unique`] name, dropped when its handle goes (explicitly with `remove().await`, or
//!    as a best effort on `Drop`). Tests of one binary and other processes can share the
//!    server without stepping on each other.
//! 3. **Tagged connections.** [`TestServer::tag`] makes a [`Tag`], and
//!    [`TestServer::url`] puts it in the URL your code connects with: PostgreSQL's
//!    `application_name`, or on MySQL an account of the test's own. The server then counts
//!    exactly your test's sessions: [`TestServer::count`], and for the moments when
//!    sessions are closing, [`TestServer::count_held`].
//! 4. **Peaks.** A [`PeakSampler`] samples a count every 2 ms on a thread of its own while
//!    the test runs its load: a bound like "never more connections than the budget" is
//!    checked at every instant, not only at the end.
//! 5. **No connection leaked.** After the code under test has shut down,
//!    [`TestServer::assert_no_connections`] waits (bounded) until the server lists no session
//!    of the tag, and fails with how many remained and for how long it waited.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # mod example {
//! use std::time::Duration;
//! use tenantpool_testkit::{Count, PgServer, TestServer};
//!
//! #[tokio::test]
//! async fn orders_leave_no_connection_behind() -> Result<(), tenantpool_testkit::Error> {
//!     let _slots = tenantpool_testkit::reserve(6).await;
//!     let Some(server) = PgServer::from_env().await else { return Ok(()) };
//!     let db = server.throwaway_database("orders").await?;
//!     let tag = server.tag("orders").await?;
//!     let sampler = server.sampler(&tag, Count::Tagged).await?;
//!
//!     let url = server.url(db.name(), &tag);
//!     // ... build your pool on `url`, run requests, shut the pool down ...
//! #   let _ = url;
//!
//!     let peaks = sampler.finish().await?;
//!     assert!(peaks.peak <= 4, "{} connections at once", peaks.peak);
//!     server.assert_no_connections(&tag, Duration::from_secs(5)).await?;
//!     Ok(())
//! }
//! # }
//! ```
//!
//! Also: [`HangingServer`] and [`refused_port`] for servers that hang or refuse,
//! [`wait_until`] for bounded polling, [`reserve`] to keep the connections of parallel
//! tests within the server's limit, [`unavailable`] to apply the CI rule to anything else a
//! test needs, [`capture_logs`] to assert on log lines (events from any thread, with the
//! fields of their spans). See docs/testing.md in the repository for a complete walk-through.
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod address;
mod ci;
mod cleanup;
mod error;
mod faults;
mod fixture;
mod logs;
#[cfg(feature = "mysql")]
mod mysql;
mod names;
#[cfg(feature = "postgres")]
mod postgres;
mod proxy;
mod sampler;
mod server;
mod slots;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sockets;
mod throwaway;
mod wait;

pub use crate::address::mask_password;
pub use crate::ci::{ci, unavailable};
pub use crate::error::{BoxError, Error};
pub use crate::faults::{refused_port, HangingServer};
pub use crate::fixture::Fixture;
pub use crate::logs::{capture_logs, CapturedLogs};
#[cfg(feature = "mysql")]
pub use crate::mysql::MySqlServer;
pub use crate::names::unique;
#[cfg(feature = "postgres")]
pub use crate::postgres::PgServer;
pub use crate::proxy::SeveringProxy;
pub use crate::sampler::{IntoReading, PeakSampler, Peaks, Reading, SamplerBuilder};
pub use crate::server::{Count, TestServer};
pub use crate::slots::{reserve, SLOTS};
pub use crate::throwaway::{Database, Databases, Tag};
pub use crate::wait::{wait_until, POLL_EVERY};
