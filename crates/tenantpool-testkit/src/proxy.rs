//! A TCP proxy that can cut the connections passing through it, for tests of what a pool does
//! with a connection that died while it sat idle (a backend terminated by an administrator, an
//! idle-session timeout, a failover) and that the client cannot see as dead until it uses it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::Error;

/// A TCP proxy on `127.0.0.1` in front of a database server.
///
/// [`sever_existing`](Self::sever_existing) dooms every connection open at that moment: it
/// stays open and silent (so the client's driver sees nothing wrong), and the next bytes the
/// client sends on it are not forwarded: the proxy closes both sides instead. The client's
/// next statement on it fails with a closed connection, as on a connection whose server
/// session ended while it was idle. Connections opened later pass normally. The proxy stops
/// when dropped.
///
/// [`refuse_new`](Self::refuse_new) makes it behave like a server that is down: every new
/// connection is reset as soon as it arrives, until [`accept_new`](Self::accept_new). With
/// [`sever_existing`](Self::sever_existing) as well, the server is gone for old and new
/// connections alike, and comes back on `accept_new`, while the real server never stops.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tenantpool_testkit::Error> {
/// use tenantpool_testkit::SeveringProxy;
///
/// let proxy = SeveringProxy::start("127.0.0.1:5432").await?;
/// let url = format!("postgres://postgres@{}/postgres", proxy.addr());
/// // ... open connections through `url`, let them go idle in a pool ...
/// proxy.sever_existing();
/// // The pooled connections' next statements fail; new connections work.
/// # let _ = url;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SeveringProxy {
    addr: SocketAddr,
    upstream: String,
    generation: Arc<AtomicU64>,
    refusing: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl SeveringProxy {
    /// Starts proxying to `upstream` (`host:port`), listening on an ephemeral port, on the
    /// caller's runtime.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:3306").await?;
    /// assert!(proxy.addr().ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let upstream_text = upstream.to_string();
        let upstream: SocketAddr = tokio::net::lookup_host(upstream)
            .await
            .map_err(|e| Error::Background(format!("cannot resolve {upstream}: {e}")))?
            .next()
            .ok_or_else(|| Error::Background(format!("{upstream} resolves to nothing")))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Background(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Background(format!("no local address: {e}")))?;
        let generation = Arc::new(AtomicU64::new(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let current = generation.clone();
        let refuse = refusing.clone();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                if refuse.load(Ordering::Acquire) {
                    reset(client);
                    continue;
                }
                let born = current.load(Ordering::Acquire);
                let current = current.clone();
                links.spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, born, &current).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            upstream: upstream_text,
            generation,
            refusing,
            task,
        })
    }

    /// Where it listens.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:5432").await?;
    /// let url = format!("postgres://postgres@{}/postgres", proxy.addr());
    /// # let _ = url;
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its `host:port` (the upstream the proxy was started with) replaced by the
    /// proxy's address: the same database, reached through the proxy.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:5432").await?;
    /// let url = proxy.proxied("postgres://postgres@127.0.0.1:5432/orders");
    /// assert_eq!(url, format!("postgres://postgres@{}/orders", proxy.addr()));
    /// # Ok(()) }
    /// ```
    pub fn proxied(&self, url: &str) -> String {
        url.replacen(&self.upstream, &self.addr.to_string(), 1)
    }

    /// Dooms every connection open now (see the type's docs).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:5432").await?;
    /// proxy.sever_existing();
    /// # Ok(()) }
    /// ```
    pub fn sever_existing(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Resets every connection that arrives from now on, before a byte reaches the server
    /// (see the type's docs); connections already open are not touched.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:5432").await?;
    /// proxy.refuse_new();
    /// proxy.sever_existing(); // the server is "down"
    /// // ...
    /// proxy.accept_new(); // and back
    /// # Ok(()) }
    /// ```
    pub fn refuse_new(&self) {
        self.refusing.store(true, Ordering::Release);
    }

    /// Proxies new connections again after [`refuse_new`](Self::refuse_new).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tenantpool_testkit::Error> {
    /// let proxy = tenantpool_testkit::SeveringProxy::start("127.0.0.1:3306").await?;
    /// proxy.refuse_new();
    /// proxy.accept_new();
    /// # Ok(()) }
    /// ```
    pub fn accept_new(&self) {
        self.refusing.store(false, Ordering::Release);
    }
}

/// Closes an accepted connection with a reset (no graceful FIN), as a host answers a connect
/// to a port nobody listens on: the client's driver reports a reset or refused connection.
fn reset(client: TcpStream) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(std::time::Duration::ZERO));
    drop(client);
}

impl Drop for SeveringProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its `JoinSet`, which aborts every relay and closes
        // their sockets.
        self.task.abort();
    }
}

/// Copies bytes both ways until either side closes, or until the client sends bytes after the
/// proxy's generation moved past `born`: then both sockets are dropped unforwarded.
async fn relay(client: TcpStream, server: TcpStream, born: u64, current: &AtomicU64) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_server = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client_read.read(&mut from_client) => match read {
                Ok(n) if n > 0 && current.load(Ordering::Acquire) == born => {
                    if server_write.write_all(&from_client[..n]).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
            read = server_read.read(&mut from_server) => match read {
                Ok(n) if n > 0 => {
                    if client_write.write_all(&from_server[..n]).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}
