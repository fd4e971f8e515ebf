//! PostgreSQL through `AsyncPgConnection`.
//!
//! The connection is opened with tokio-postgres directly (so that a missing database is told
//! apart from an unreachable server by its SQLSTATE), and its driver task is spawned on the
//! I/O runtime holding the budget permit. The permit comes back only when the server-side
//! session is gone: after `Terminate`, the socket (a [`ServerClosed`] stream) half-closes and
//! reads until the server closes its end, which a backend does only after it has left
//! `pg_stat_activity`. Releasing the permit when our end closed would let a new connection
//! open while the old backend is still listed: budget + 1 on the server for a few milliseconds.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::rustls_config::client_config;
use super::{on_io, quoted, Backend, ConnectContext, ConnectFailure};
use crate::backend::ConnectionPermit;
use crate::tls::TlsMode;
use crate::{BackendKind, DatabaseUrl, SchemaName};

/// What [`Backend::server_capacity`] reads.
#[derive(QueryableByName)]
struct Accepts {
    #[diesel(sql_type = BigInt)]
    accepts: i64,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

impl Backend for AsyncPgConnection {
    const KIND: BackendKind = BackendKind::Postgres;

    async fn connect(
        url: DatabaseUrl,
        ctx: ConnectContext,
    ) -> Result<(Self, Option<ConnectionPermit>), ConnectFailure> {
        let ConnectContext {
            io,
            permit,
            timeout,
            ..
        } = ctx;
        on_io(&io, timeout, async move {
            // Inside the connect turn, the permit and the connect timeout: the handshake is
            // part of the connect.
            let tls = postgres_tls_connector(&url)?;
            let client = match tcp_address(&url) {
                Some((mut config, host, port)) => {
                    config.ssl_mode(ssl_mode(url.tls().mode));
                    let stream = TcpStream::connect((host.as_str(), port))
                        .await
                        .map_err(|e| {
                            ConnectFailure::Unavailable(
                                url.redact(&format!("error connecting to server: {e}")),
                            )
                        })?;
                    configure_socket(&stream, &config).map_err(|e| {
                        ConnectFailure::Unavailable(format!("error configuring the socket: {e}"))
                    })?;
                    let stream = ServerClosed::new(stream);
                    match tls {
                        Some(mut make) => {
                            let tls =
                                MakeTlsConnect::<ServerClosed>::make_tls_connect(&mut make, &host)
                                    .map_err(|e| ConnectFailure::Tls(format!("{host}: {e}")))?;
                            open_raw(&url, &config, stream, tls, permit).await?
                        }
                        None => {
                            open_raw(&url, &config, stream, tokio_postgres::NoTls, permit).await?
                        }
                    }
                }
                None => {
                    // Several hosts, a Unix socket or `hostaddr`: tokio-postgres picks the
                    // address. The permit then comes back when our end of the socket closed.
                    let mut config: tokio_postgres::Config = url
                        .driver_url()
                        .parse()
                        .map_err(|e| ConnectFailure::Unavailable(url.redact(&format!("{e}"))))?;
                    config.ssl_mode(ssl_mode(url.tls().mode));
                    match tls {
                        Some(make) => {
                            let (client, connection) =
                                config.connect(make).await.map_err(|e| classify(&url, &e))?;
                            tokio::spawn(drive(connection, permit));
                            client
                        }
                        None => {
                            let (client, connection) = config
                                .connect(tokio_postgres::NoTls)
                                .await
                                .map_err(|e| classify(&url, &e))?;
                            tokio::spawn(drive(connection, permit));
                            client
                        }
                    }
                }
            };
            let conn = AsyncPgConnection::try_from(client)
                .await
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            Ok((conn, None))
        })
        .await
    }

    async fn validate(&mut self) -> diesel::QueryResult<()> {
        self.batch_execute("SELECT 1").await
    }

    async fn server_capacity(&mut self) -> diesel::QueryResult<Option<u64>> {
        // `reserved_connections` exists from PostgreSQL 16 on; `current_setting(_, true)`
        // reads NULL for it before.
        let row: Accepts = diesel::sql_query(
            "SELECT (current_setting('max_connections')::int \
             - current_setting('superuser_reserved_connections')::int \
             - COALESCE(NULLIF(current_setting('reserved_connections', true), '')::int, 0)\
             )::int8 AS accepts",
        )
        .get_result(self)
        .await?;
        Ok(u64::try_from(row.accepts).ok())
    }

    async fn switch_schema(&mut self, schema: &SchemaName) -> diesel::QueryResult<()> {
        self.batch_execute(&format!("SET search_path TO {}", quoted(schema, '"')))
            .await
    }

    async fn ensure_schema(
        &mut self,
        schema: &SchemaName,
        create: bool,
    ) -> diesel::QueryResult<bool> {
        if create {
            self.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quoted(schema, '"')
            ))
            .await?;
        }
        let found: Present = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present",
        )
        .bind::<Text, _>(schema.as_str())
        .get_result(self)
        .await?;
        Ok(found.present)
    }

    fn is_closed(&mut self) -> bool {
        // `is_broken` is "transaction manager broken, or socket closed".
        diesel_async::pooled_connection::PoolableConnection::is_broken(self)
            && !<diesel_async::AnsiTransactionManager as diesel_async::TransactionManager<Self>>::is_broken_transaction_manager(self)
    }

    const ABANDON_OPENS_SESSION: bool = false;

    fn abandon(
        &mut self,
        url: &DatabaseUrl,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        let token = self.cancel_token();
        // A connection opened with `connect_raw` has no socket configuration in its token:
        // the cancel request goes to the address the connection was opened on, over the same
        // TLS as the connection.
        let address = tcp_address(url).map(|(_, host, port)| (host, port));
        let tls = postgres_tls_connector(url).ok().flatten();
        Some(Box::pin(async move {
            let sent = match (address, tls) {
                (Some((host, port)), tls) => {
                    match TcpStream::connect((host.as_str(), port)).await {
                        Ok(stream) => match tls {
                            Some(mut make) => {
                                match MakeTlsConnect::<TcpStream>::make_tls_connect(
                                    &mut make, &host,
                                ) {
                                    Ok(tls) => token
                                        .cancel_query_raw(stream, tls)
                                        .await
                                        .map_err(|e| e.to_string()),
                                    Err(e) => Err(e.to_string()),
                                }
                            }
                            None => token
                                .cancel_query_raw(stream, tokio_postgres::NoTls)
                                .await
                                .map_err(|e| e.to_string()),
                        },
                        Err(e) => Err(e.to_string()),
                    }
                }
                (None, Some(make)) => token.cancel_query(make).await.map_err(|e| e.to_string()),
                (None, None) => token
                    .cancel_query(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string()),
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "cancel request for an abandoned connection failed");
            }
        }))
    }
}

/// The rustls connector tenantpool uses for a PostgreSQL URL's TLS settings, or `None` for
/// `sslmode=disable`: for an application's (or a benchmark's) own tokio-postgres connections
/// to the same servers, with the same checks.
///
/// ```no_run
/// use tenantpool_core::DatabaseUrl;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let url = DatabaseUrl::parse("postgres://app@db/acme?sslmode=require")?;
/// if let Some(tls) = tenantpool_core::backend::postgres_tls_connector(&url)? {
///     let (client, connection) = tokio_postgres::connect("host=db user=app sslmode=require", tls).await?;
///     tokio::spawn(connection);
/// }
/// # Ok(()) }
/// ```
pub fn postgres_tls_connector(
    url: &DatabaseUrl,
) -> Result<Option<MakeRustlsConnect>, ConnectFailure> {
    if url.tls().mode == TlsMode::Disable {
        return Ok(None);
    }
    let config = client_config(url.tls()).map_err(ConnectFailure::Tls)?;
    Ok(Some(MakeRustlsConnect::new((*config).clone())))
}

/// tokio-postgres's own mode: it knows whether to ask for TLS; our connector decides what
/// the certificate must prove.
pub(crate) fn ssl_mode(mode: TlsMode) -> SslMode {
    match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    }
}

/// Opens a session over `stream` (TLS as `tls` says) and spawns its driver with the permit.
async fn open_raw<T>(
    url: &DatabaseUrl,
    config: &tokio_postgres::Config,
    stream: ServerClosed,
    tls: T,
    permit: ConnectionPermit,
) -> Result<tokio_postgres::Client, ConnectFailure>
where
    T: TlsConnect<ServerClosed>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config
        .connect_raw(stream, tls)
        .await
        .map_err(|e| classify(url, &e))?;
    tokio::spawn(drive(connection, permit));
    Ok(client)
}

fn classify(url: &DatabaseUrl, e: &tokio_postgres::Error) -> ConnectFailure {
    if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
        ConnectFailure::DatabaseMissing
    } else if e.to_string().starts_with("error performing TLS handshake") {
        // tokio-postgres's kind for a failed handshake, a rejected certificate, or a server
        // without TLS under `require`: a setting to fix, not a server to back off from.
        let mut message = e.to_string();
        if let Some(source) = std::error::Error::source(e) {
            message = format!("{message}: {source}");
        }
        ConnectFailure::Tls(url.redact(&message))
    } else {
        let mut message = e.to_string();
        if let Some(db) = e.as_db_error() {
            message = format!("{}: {}", db.severity(), db.message());
        } else if let Some(source) = std::error::Error::source(e) {
            message = format!("{message}: {source}");
        }
        ConnectFailure::Unavailable(url.redact(&message))
    }
}

/// Runs a connection's driver until the session has ended, then releases its permit.
async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>, permit: ConnectionPermit)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "postgres connection ended with an error");
    }
    drop(permit);
}

/// The parsed configuration and the one TCP address of `url`, when it names exactly one TCP
/// host (the usual `postgres://user@host:port/db`).
fn tcp_address(url: &DatabaseUrl) -> Option<(tokio_postgres::Config, String, u16)> {
    let config: tokio_postgres::Config = url.driver_url().parse().ok()?;
    if !config.get_hostaddrs().is_empty() {
        return None;
    }
    let host = match config.get_hosts() {
        [Host::Tcp(host)] => host.clone(),
        _ => return None,
    };
    let port = match config.get_ports() {
        [] => 5432,
        [port] => *port,
        _ => return None,
    };
    Some((config, host, port))
}

/// What tokio-postgres's own connect does to a TCP socket: no Nagle delay (latency matters
/// more than packet count for short queries), and TCP keepalive as the URL says
/// (`keepalives`, `keepalives_idle`, `keepalives_interval`, `keepalives_retries`).
fn configure_socket(stream: &TcpStream, config: &tokio_postgres::Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        // The same platform limits as tokio-postgres's keepalive support.
        #[cfg(not(any(
            target_os = "aix",
            target_os = "redox",
            target_os = "solaris",
            target_os = "openbsd"
        )))]
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        #[cfg(not(any(
            target_os = "aix",
            target_os = "redox",
            target_os = "solaris",
            target_os = "windows",
            target_os = "openbsd"
        )))]
        if let Some(retries) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(retries);
        }
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// How long a closing connection waits for the server to close its end before it gives up
/// and releases its permit anyway (a server that hangs must not hold a permit forever).
const SERVER_CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// A TCP stream whose shutdown completes only when the server has closed its end.
///
/// tokio-postgres shuts its stream down after it has written `Terminate`. A backend exits
/// its `pg_stat_activity` entry before it closes the socket, so once the read side sees
/// end-of-file the session is no longer counted by the server. The wait is bounded by
/// [`SERVER_CLOSE_LIMIT`]; bytes that arrive meanwhile are discarded.
struct ServerClosed {
    stream: TcpStream,
    write_closed: bool,
    limit: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ServerClosed {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            write_closed: false,
            limit: None,
        }
    }
}

impl AsyncRead for ServerClosed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServerClosed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.write_closed {
            match Pin::new(&mut this.stream).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => {}
                // The socket is already unusable: the server side is gone or going.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
            this.write_closed = true;
            this.limit = Some(Box::pin(tokio::time::sleep(SERVER_CLOSE_LIMIT)));
        }
        let mut scratch = [0u8; 512];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => break,
            }
        }
        match this.limit.as_mut().map(|limit| limit.as_mut().poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => {
                tracing::debug!("the server did not close a terminated connection in time");
                Poll::Ready(Ok(()))
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (ServerClosed, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (ServerClosed::new(client), server)
    }

    #[tokio::test]
    async fn shutdown_completes_only_once_the_server_has_closed_its_end() {
        let (mut stream, mut server) = pair().await;
        let shutdown = tokio::spawn(async move { stream.shutdown().await });
        // The server sees our end closed for writing...
        let mut buf = [0u8; 16];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        // ...and may still send: those bytes are read and discarded.
        server.write_all(b"late notice").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !shutdown.is_finished(),
            "the shutdown completed while the server still had its end open"
        );
        drop(server);
        let done = tokio::time::timeout(Duration::from_secs(1), shutdown)
            .await
            .expect("the shutdown did not complete after the server closed")
            .unwrap();
        assert!(done.is_ok(), "{done:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_closes_holds_the_shutdown_only_up_to_the_limit() {
        let (mut stream, _server) = pair().await;
        let started = Instant::now();
        let done = tokio::time::timeout(SERVER_CLOSE_LIMIT * 2, stream.shutdown()).await;
        let took = started.elapsed();
        assert!(matches!(done, Ok(Ok(()))), "{done:?}");
        assert!(
            took >= SERVER_CLOSE_LIMIT,
            "gave up after {took:?}, before the limit"
        );
    }
}
