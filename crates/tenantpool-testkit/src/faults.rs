//! Servers that misbehave, for tests of what a pool does when a database hangs or refuses:
//! an address that accepts connections and never answers, and a port that refuses them.

use std::net::SocketAddr;

use tokio::task::JoinHandle;

use crate::error::Error;

/// A TCP server on `127.0.0.1` that accepts every connection and never answers: a database
/// that hangs. It stops when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::HangingServer;
///
/// let hole = HangingServer::start().await?;
/// let url = format!("postgres://postgres@{}/x", hole.addr());
/// // A registry connecting to `url` waits until its connect timeout.
/// # let _ = url;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HangingServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HangingServer {
    /// Starts listening on an ephemeral port, on the caller's runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let hole = tenantpool_testkit::HangingServer::start().await?;
    /// assert!(hole.addr().ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub async fn start() -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Background(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Background(format!("no local address: {e}")))?;
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Ok(Self { addr, task })
    }

    /// Where it listens.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let hole = tenantpool_testkit::HangingServer::start().await?;
    /// assert_ne!(hole.addr().port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on `127.0.0.1` on which nothing listens (bound, then released): connecting to it
/// is refused at once.
///
/// ```
/// let port = tenantpool_testkit::refused_port()?;
/// assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
/// # Ok::<(), tenantpool_testkit::Error>(())
/// ```
pub fn refused_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| Error::Background(format!("cannot find a free port: {e}")))
}
