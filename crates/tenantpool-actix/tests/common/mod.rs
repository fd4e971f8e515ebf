//! Shared test scaffolding: real servers on 127.0.0.1:0, database admin connections, the CI
//! policy for missing database servers, and server-side connection counts.
#![allow(dead_code, unused_macros)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

pub fn pg_url() -> String {
    std::env::var("TENANTPOOL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn mysql_url() -> String {
    std::env::var("TENANTPOOL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The policy for an unreachable database server: fail under CI, skip loudly elsewhere.
pub fn unreachable(what: &str, error: &dyn std::fmt::Display) {
    let message = format!("{what} is unreachable ({error}); start it or set its URL variable");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: {message}");
    }
    eprintln!("\n!!!!!!!!!! SKIPPING: {message} !!!!!!!!!!\n");
}

/// A name no other test (or test process) uses: `tpa_<tag>_<pid>_<n>`.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 10_000)
        .unwrap_or(0);
    format!(
        "tpa_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An admin connection to PostgreSQL (database `postgres`), or `None` after the skip policy.
pub async fn pg_admin() -> Option<tokio_postgres::Client> {
    let url = format!("{}/postgres?application_name=tpa_admin", pg_url());
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            actix_web::rt::spawn(async move {
                let _ = connection.await;
            });
            Some(client)
        }
        Err(e) => {
            unreachable("PostgreSQL", &e);
            None
        }
    }
}

pub async fn create_pg_db(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
}

pub async fn drop_pg_db(admin: &tokio_postgres::Client, name: &str) {
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

/// Server-side connections whose `application_name` is `app`.
pub async fn pg_count(admin: &tokio_postgres::Client, app: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .map(|row| row.get::<_, i64>(0))
        .unwrap_or_else(|e| panic!("counting connections: {e}"))
}

/// Waits until `pg_count` is `want`; panics with the last count after `timeout`.
pub async fn wait_pg_count(
    admin: &tokio_postgres::Client,
    app: &str,
    want: i64,
    timeout: Duration,
) {
    let start = Instant::now();
    loop {
        let n = pg_count(admin, app).await;
        if n == want {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{app}: {n} server-side connections after {timeout:?}, expected {want}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
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
