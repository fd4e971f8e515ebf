//! A minimal HTTP/1.1 client over a raw TCP socket: enough for the driver's health and stats
//! requests, and for measuring time to first byte without a client library in the way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::ServerStats;
use crate::{fail, Result};

/// A request for `path` with `Host: host`, closing the connection after the response.
fn request(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

/// The status code of a response that starts with `HTTP/1.1 200 ...`.
fn status_of(head: &[u8]) -> Result<u16> {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    match text.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(code) => Ok(code),
        None => fail(format!("not an HTTP response: {text:?}")),
    }
}

/// `GET path` with `Host: host`; returns the status and the body.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request(host, path).as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let status = status_of(&response)?;
    let body = match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => String::from_utf8_lossy(&response[end + 4..]).into_owned(),
        None => String::new(),
    };
    Ok((status, body))
}

/// `GET path` on a connected socket; returns the time from the write to the first response
/// byte, and the status once the whole response has arrived.
pub async fn ttfb(stream: &mut TcpStream, host: &str, path: &str) -> Result<(Duration, u16)> {
    let started = Instant::now();
    stream.write_all(request(host, path).as_bytes()).await?;
    let mut first = [0u8; 1];
    let n = stream.read(&mut first).await?;
    let elapsed = started.elapsed();
    if n == 0 {
        return fail("the server closed the connection without answering");
    }
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    let mut response = first.to_vec();
    response.extend_from_slice(&rest);
    Ok((elapsed, status_of(&response)?))
}

/// Waits until `GET /_lb/health` answers 200, or fails after `limit`.
pub async fn wait_healthy(addr: SocketAddr, limit: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok((200, _)) = get(addr, "localhost", "/_lb/health").await {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return fail(format!(
                "the server on {addr} did not become healthy within {limit:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /_lb/stats`.
pub async fn stats(addr: SocketAddr) -> Result<ServerStats> {
    let (status, body) = get(addr, "localhost", "/_lb/stats").await?;
    if status != 200 {
        return fail(format!("GET /_lb/stats answered {status}: {body}"));
    }
    Ok(serde_json::from_str(&body).map_err(|e| format!("stats body {body:?}: {e}"))?)
}
