//! Shared test scaffolding: real HTTP servers on 127.0.0.1:0 (served by
//! `GracefulShutdown::serve`, as applications do) and a small HTTP/1.1 client for them.
//! Database servers, the CI rule and server-side connection counts come from
//! `tenantpool-testkit`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Response;
use axum::BoxError;
use tenantpool_axum::GracefulShutdown;
use tenantpool_core::ShutdownReport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::Service;

#[allow(unused_imports)] // each test binary uses part of them
pub use tenantpool_testkit::{unique, wait_until};

/// A running server: its address, the trigger of its graceful shutdown, and the task that
/// ends with the shutdown reports.
pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    pub task: JoinHandle<std::io::Result<Vec<ShutdownReport>>>,
}

impl Running {
    /// Sends the shutdown signal and waits for the reports.
    pub async fn stop(self) -> Vec<ShutdownReport> {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("serve")
    }
}

/// Serves `app` with `shutdown` (its registries) on an ephemeral port.
pub async fn serve_with<S, B>(app: S, shutdown: GracefulShutdown) -> Running
where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(shutdown.serve(listener, app, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

/// Serves `app` with no registry to close.
pub async fn serve<S, B>(app: S) -> Running
where
    S: Service<Request, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(app, GracefulShutdown::new(Duration::from_secs(5))).await
}

/// Polls `check` until it holds; fails with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let (done, waited) = wait_until(timeout, || async { check() }, |done| *done).await;
    assert!(done, "timed out waiting {waited:?} for {what}");
}

/// A response: status, headers (lower-case names) and body text.
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    /// The JSON error body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Sends `method path` with `headers` and an optional body over a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no response within 30 s"))
        .expect("read response");
    parse(&raw).unwrap_or_else(|| panic!("{method} {path}: malformed response {raw:?}"))
}

/// A GET with extra headers.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, headers, "").await
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).ok()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
