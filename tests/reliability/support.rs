//! Scaffolding of the reliability suite: sizes, an HTTP client, a panic counter, and the lock
//! that keeps the heavy scenarios from running at the same time. Servers, the CI rule,
//! connection counts and samplers come from `tenantpool-testkit`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Full sizes (`TENANTPOOL_FULL=1`, set by `scripts/reliability`) or CI sizes.
pub fn full() -> bool {
    std::env::var("TENANTPOOL_FULL").is_ok_and(|v| v == "1")
}

/// `full` at full size, `ci` otherwise.
pub fn size<T>(ci: T, full_size: T) -> T {
    if full() {
        full_size
    } else {
        ci
    }
}

/// One heavy scenario at a time: they share two cores and one PostgreSQL server, and some
/// measure the process (RSS, panics) or the server (connection counts).
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// The marker in the message of every panic a test provokes on purpose.
pub const EXPECTED_PANIC: &str = "tpr-expected-panic";

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Panics of server-side threads (actix workers, the registries' runtimes: every thread but
/// the test harness's, whose names are test paths) since the process started, provoked ones
/// included. Installs the counting hook on first use; provoked panics are counted but not
/// printed.
pub fn panics() -> u64 {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let test_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.contains("::") || n == "main");
            if !test_thread {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            let expected = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.contains(EXPECTED_PANIC))
                .or_else(|| {
                    info.payload()
                        .downcast_ref::<String>()
                        .map(|s| s.contains(EXPECTED_PANIC))
                })
                .unwrap_or(false);
            if !expected {
                previous(info);
            }
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// Resident set size of this process, in KiB (`VmRSS` of /proc/self/status).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A small deterministic generator (xorshift64*), so that failures reproduce.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Distinct, valid, random-looking tenant keys.
pub fn random_key(i: u64) -> String {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_5A5A_DEAD_BEEF;
    format!("r{x:016x}")
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// Starts an `HttpServer` for `factory` on an ephemeral port with `workers` workers and no
/// signal handling; evaluates to `(addr, handle, server)` (the server future not spawned).
macro_rules! serve {
    ($factory:expr, $workers:expr) => {{
        let server = actix_web::HttpServer::new($factory)
            .workers($workers)
            .disable_signals()
            .shutdown_timeout(10)
            .bind(("127.0.0.1", 0))
            .expect("bind 127.0.0.1:0");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        (addr, handle, server)
    }};
}

/// A client with a generous timeout (some scenarios hang on purpose).
pub fn client(timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .timeout(timeout)
        .connector(awc::Connector::new().limit(256))
        .finish()
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// 0 when the request failed at the transport level.
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
    /// The transport error, when there was one.
    pub error: Option<String>,
    pub sent: Instant,
    pub took: Duration,
}

/// GET `path` with one header.
pub async fn get(
    client: &awc::Client,
    addr: SocketAddr,
    path: &str,
    header: (&str, &str),
) -> Answer {
    let sent = Instant::now();
    let result = client
        .get(format!("http://{addr}{path}"))
        .insert_header(header)
        .send()
        .await;
    match result {
        Ok(mut resp) => {
            let body = resp.body().limit(1 << 20).await;
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let (body, error) = match body {
                Ok(b) => (String::from_utf8_lossy(&b).into_owned(), None),
                Err(e) => (String::new(), Some(format!("body: {e}"))),
            };
            Answer {
                status: resp.status().as_u16(),
                retry_after,
                body,
                error,
                sent,
                took: sent.elapsed(),
            }
        }
        Err(e) => Answer {
            status: 0,
            retry_after: None,
            body: String::new(),
            error: Some(e.to_string()),
            sent,
            took: sent.elapsed(),
        },
    }
}

/// Sends raw bytes and returns the status code of the answer (0 when the server closed the
/// connection without one) and the whole answer.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Sends a request and hangs up after `after`, while the handler still runs.
pub async fn disconnect_after(addr: SocketAddr, request: &[u8], after: Duration) {
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        let _ = stream.write_all(request).await;
        tokio::time::sleep(after).await;
        drop(stream);
    }
}

/// Percentiles of a set of durations, in milliseconds: (p50, p99, max).
pub fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(1.0))
}
