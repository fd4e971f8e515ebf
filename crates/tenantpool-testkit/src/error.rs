//! What can go wrong while a test talks to its server. `Debug` prints the message and its
//! causes, so that a test returning `Result<(), Error>` fails with a readable line.

use std::time::Duration;

/// The error of every fallible call of the kit.
///
/// ```
/// use std::time::Duration;
/// use tenantpool_testkit::Error;
///
/// let leak = Error::Leaked {
///     tag: "tp_orders".into(),
///     remaining: 2,
///     waited: Duration::from_secs(5),
/// };
/// assert_eq!(
///     leak.to_string(),
///     "2 connection(s) tagged `tp_orders` still on the server after waiting 5s"
/// );
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server did not accept a connection. The URL's password, if any, is masked.
    #[error("cannot connect to {url}")]
    Connect {
        /// Where the kit tried to connect.
        url: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A statement failed.
    #[error("the server refused `{sql}`")]
    Query {
        /// The statement.
        sql: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A test server URL from the environment cannot be used.
    #[error("invalid test server URL {url}: {reason}")]
    Url {
        /// The URL, its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Connections tagged `tag` were still open on the server after the bounded wait of a
    /// no-leak assertion.
    #[error(
        "{remaining} connection(s) tagged `{tag}` still on the server after waiting {waited:?}"
    )]
    Leaked {
        /// The tag the connections carry.
        tag: String,
        /// How many were left at the last count.
        remaining: i64,
        /// How long the assertion waited for them to close.
        waited: Duration,
    },
    /// A background thread of the kit (a sampler, a cleanup) could not start or stopped
    /// early.
    #[error("a background task of the test kit failed: {0}")]
    Background(String),
    /// The kit cannot set something up for this test binary (the log capture, when another
    /// global subscriber came first).
    #[error("test set-up failed: {0}")]
    Setup(String),
}

/// The boxed cause of an [`Error`].
///
/// ```
/// use std::error::Error as _;
/// let leak = tenantpool_testkit::Error::Background("no thread".into());
/// let cause: Option<&(dyn std::error::Error + 'static)> = leak.source();
/// assert!(cause.is_none());
/// # let _: Option<tenantpool_testkit::BoxError> = None;
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn query(sql: &str, source: impl Into<BoxError>) -> Self {
        Self::Query {
            sql: sql.to_string(),
            source: source.into(),
        }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}
