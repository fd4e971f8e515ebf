//! Things a test creates on a shared server and must not leave there: databases, schemas, and
//! on MySQL the per-test accounts that tag connections. Each has a unique name (see
//! [`unique`](crate::unique)) and is dropped on the server when its handle goes: explicitly
//! with `remove().await`, or on `Drop` as a best effort (see the `cleanup` module).

use std::fmt;
use std::ops::Deref;

use crate::cleanup::Cleanup;
use crate::error::Error;

/// A database (or, with [`PgServer::throwaway_schema`](crate::PgServer), a schema) that lives
/// as long as this handle. Dropping the handle drops it on the server; on PostgreSQL that
/// also ends every session still connected to it.
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::{PgServer, TestServer};
///
/// let Some(server) = PgServer::from_env().await else { return Ok(()) };
/// let db = server.throwaway_database("tp_orders").await?;
/// let url = server.url(db.name(), "tp_orders_test");
/// // ... connect to `url` ...
/// db.remove().await?; // or let it drop
/// # let _ = url;
/// # Ok(()) }
/// ```
pub struct Database {
    name: String,
    cleanup: Cleanup,
}

impl Database {
    pub(crate) fn new(name: String, cleanup: Cleanup) -> Self {
        Self { name, cleanup }
    }

    /// The name on the server.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let db = server.throwaway_database("tp_x").await?;
    /// assert!(db.name().starts_with("tp_x_"));
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops it on the server now, on the caller's runtime, and reports a failure.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.throwaway_database("tp_x").await?.remove().await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove(self) -> Result<(), Error> {
        self.cleanup.run().await
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Database").field(&self.name).finish()
    }
}

/// Databases sharing a unique prefix, `<prefix>_<suffix>`: every database whose name starts
/// with `<prefix>_` is dropped with the handle, those the code under test created included.
///
/// ```no_run
/// # #[cfg(feature = "mysql")]
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::{MySqlServer, TestServer};
///
/// let Some(server) = MySqlServer::from_env().await else { return Ok(()) };
/// let dbs = server.throwaway_databases("tp_notes", &["acme", "globex"]).await?;
/// let template = format!("{}/{}_{{tenant}}", server.base_url(), dbs.prefix());
/// // ... a registry on `template` may create `<prefix>_initech` too: it goes with `dbs` ...
/// # let _ = template;
/// # Ok(()) }
/// ```
pub struct Databases {
    prefix: String,
    cleanup: Cleanup,
}

impl Databases {
    pub(crate) fn new(prefix: String, cleanup: Cleanup) -> Self {
        Self { prefix, cleanup }
    }

    /// The unique prefix, without the `_` that separates it from a suffix.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let dbs = server.throwaway_databases("tp_x", &["a"]).await?;
    /// assert_eq!(dbs.name("a"), format!("{}_a", dbs.prefix()));
    /// # Ok(()) }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name of the family's database for `suffix` (whether it exists or not).
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let dbs = server.throwaway_databases("tp_x", &["a"]).await?;
    /// assert!(server.database_exists(&dbs.name("a")).await?);
    /// # Ok(()) }
    /// ```
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    /// Drops them all on the server now, on the caller's runtime, and reports a failure.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.throwaway_databases("tp_x", &["a", "b"]).await?.remove().await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove(self) -> Result<(), Error> {
        self.cleanup.run().await
    }
}

impl fmt::Debug for Databases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Databases").field(&self.prefix).finish()
    }
}

/// The mark that lets a server count one test's connections, and nobody else's: PostgreSQL's
/// `application_name` (put in the URL by [`TestServer::url`](crate::TestServer::url)); on
/// MySQL/MariaDB, whose process list has no application name, an account of the test's own
/// (dropped with the tag). Dereferences to its name.
///
/// ```no_run
/// # #[cfg(feature = "mysql")]
/// # async fn run() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::{MySqlServer, TestServer};
///
/// let Some(server) = MySqlServer::from_env().await else { return Ok(()) };
/// let tag = server.tag("tp_orders").await?;
/// let url = server.url("orders", &tag); // mysql://tp_orders_…@127.0.0.1:3306/orders
/// assert_eq!(server.count(&tag).await?, 0);
/// # let _ = url;
/// # Ok(()) }
/// ```
pub struct Tag {
    name: String,
    cleanup: Option<Cleanup>,
}

impl Tag {
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn new(name: String, cleanup: Option<Cleanup>) -> Self {
        Self { name, cleanup }
    }

    /// The tag's name: the `application_name`, or the account's user name.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn run(server: tenantpool_testkit::PgServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// let tag = server.tag("tp_x").await?;
    /// assert_eq!(tag.name(), &*tag);
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops what the tag created on the server (a MySQL account) now, and reports a failure.
    ///
    /// ```no_run
    /// # #[cfg(feature = "mysql")]
    /// # async fn run(server: tenantpool_testkit::MySqlServer) -> Result<(), tenantpool_testkit::Error> {
    /// use tenantpool_testkit::TestServer;
    /// server.tag("tp_x").await?.remove().await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove(mut self) -> Result<(), Error> {
        match self.cleanup.take() {
            Some(cleanup) => cleanup.run().await,
            None => Ok(()),
        }
    }
}

impl Deref for Tag {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tag").field(&self.name).finish()
    }
}
