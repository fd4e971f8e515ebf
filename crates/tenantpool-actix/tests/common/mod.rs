//! Shared test scaffolding: real HTTP servers on 127.0.0.1:0 and a client for them. Database
//! servers, the CI rule and server-side connection counts come from `tenantpool-testkit`.
#![allow(dead_code, unused_macros)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[allow(unused_imports)] // each test binary uses part of them
pub use tenantpool_testkit::{unique, wait_until};

/// Starts an `HttpServer` for `factory` on an ephemeral port with one worker and no signal
/// handling; evaluates to `(addr, handle, server)` (the server future is not spawned yet).
macro_rules! serve {
    ($factory:expr) => {{
        let server = actix_web::HttpServer::new($factory)
            .workers(1)
            .disable_signals()
            .shutdown_timeout(5)
            .bind(("127.0.0.1", 0))
            .expect("bind 127.0.0.1:0");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        (addr, handle, server)
    }};
}

/// Starts a server for `factory` and spawns it; evaluates to its address.
macro_rules! spawn_server {
    ($factory:expr) => {{
        let (addr, handle, server) = serve!($factory);
        actix_web::rt::spawn(server);
        (addr, handle)
    }};
}

/// Polls `check` until it holds; fails with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let (done, waited) = wait_until(timeout, || async { check() }, |done| *done).await;
    assert!(done, "timed out waiting {waited:?} for {what}");
}

pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// A GET with extra headers; returns status, headers and body text.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, actix_web::http::header::HeaderMap, String) {
    let mut req = client().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let mut resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = resp
        .body()
        .await
        .unwrap_or_else(|e| panic!("GET {path} body: {e}"));
    (
        resp.status().as_u16(),
        resp.headers().clone(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Sends raw bytes as a request and returns the status line's code (0 when the server
/// closed the connection without answering).
pub async fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The JSON error body.
pub fn error_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body}"))
}
