//! Scaffolding of the reliability suite: sizes, the CI policy for missing servers, admin
//! connections to PostgreSQL, connection samplers, an HTTP client, a panic counter, and the
//! lock that keeps the heavy scenarios from running at the same time.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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

/// True when running under CI: an unreachable server is then a failure, not a skip.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Fails under CI, skips loudly elsewhere.
pub fn unreachable(what: &str, err: &dyn std::fmt::Display) {
    let message = format!("{what} is unreachable or unusable: {err}");
    if in_ci() {
        panic!("{message} (CI=true: reliability tests must not be skipped)");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {message}");
    eprintln!("!!! Start the server (see README) or set CI=true to make this a failure.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

/// One heavy scenario at a time: they share two cores and one PostgreSQL server, and some
/// measure the process (RSS, panics) or the server (connection counts).
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// A name no other test or process uses: `tpr_<tag>_<pid>_<n>`.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "tpr_{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
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
// PostgreSQL
// ---------------------------------------------------------------------------------------

/// `postgres://user[:password]@host:port` of the shared server, without a database.
pub fn pg_base() -> String {
    std::env::var("TENANTPOOL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

/// A URL on the shared server for `database`, tagged with `app`.
pub fn pg_url(database: &str, app: &str) -> String {
    format!("{}/{database}?application_name={app}", pg_base())
}

/// An admin connection (to the `postgres` database of a server).
pub struct PgAdmin {
    client: tokio_postgres::Client,
}

impl PgAdmin {
    /// Connects to the shared server, or applies the CI policy.
    pub async fn shared() -> Option<Self> {
        let url = format!("{}/postgres?application_name=tpr_admin", pg_base());
        match Self::connect(&url).await {
            Ok(admin) => Some(admin),
            Err(e) => {
                unreachable(&format!("PostgreSQL at {}", pg_base()), &e);
                None
            }
        }
    }

    /// Connects to `url`.
    pub async fn connect(url: &str) -> Result<Self, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { client })
    }

    pub async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// Server-side connections tagged `app` (-1 when the count itself failed).
    pub async fn count(&self, app: &str) -> i64 {
        self.client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or(-1)
    }

    /// Server-side connections tagged `app` whose client socket this process still holds
    /// open, next to the raw count: `(held, raw)`. A session whose client has closed its
    /// socket stays listed until its backend process has noticed and exited, a lag of
    /// milliseconds; the held count leaves those out.
    /// While the raw count is within `limit`, it bounds the held count and is returned for
    /// both (reading /proc is slow).
    pub async fn count_held(&self, app: &str, limit: i64) -> (i64, i64) {
        let Ok(rows) = self
            .client
            .query(
                "SELECT client_port FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
        else {
            return (-1, -1);
        };
        let raw = rows.len() as i64;
        if raw <= limit {
            return (raw, raw);
        }
        let held = local_tcp_ports();
        let held = rows
            .iter()
            .filter(|r| {
                let port: Option<i32> = r.get(0);
                match (port, &held) {
                    (Some(p), Some(held)) => held.contains(&(p as u16)),
                    _ => true,
                }
            })
            .count() as i64;
        (held, raw)
    }

    /// Terminates every backend tagged `app` (and only those); returns how many.
    pub async fn terminate(&self, app: &str) -> i64 {
        self.client
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()) k WHERE t",
                &[&app],
            )
            .await
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or_else(|e| panic!("terminating the backends of {app}: {e}"))
    }

    /// Creates the databases that do not exist yet.
    pub async fn ensure_databases(&self, names: &[String]) {
        let rows = self
            .client
            .query("SELECT datname FROM pg_database", &[])
            .await
            .expect("list databases");
        let have: std::collections::HashSet<String> =
            rows.iter().map(|r| r.get::<_, String>(0)).collect();
        for name in names.iter().filter(|n| !have.contains(*n)) {
            self.exec(&format!("CREATE DATABASE \"{name}\"")).await;
        }
    }

    pub async fn drop_database(&self, name: &str) {
        self.exec(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }

    /// Waits until the server lists no connection tagged `app`; returns the last count and
    /// how long it took.
    pub async fn wait_for_zero(&self, app: &str, timeout: Duration) -> (i64, Duration) {
        let started = Instant::now();
        loop {
            let n = self.count(app).await;
            if n == 0 || started.elapsed() >= timeout {
                return (n, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Local ports of the TCP sockets this process holds open (from /proc), or `None` where
/// /proc cannot be read.
pub fn local_tcp_ports() -> Option<std::collections::HashSet<u16>> {
    let inodes: std::collections::HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let mut ports = std::collections::HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let local = fields[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Ok(inode)) = (local, fields[9].parse::<u64>()) {
                if inodes.contains(&inode) {
                    ports.insert(port);
                }
            }
        }
    }
    Some(ports)
}

/// Samples a connection count in the background (every 2 ms) and keeps the maximum: of the
/// sessions this process holds (`peak`) and of all sessions listed (`peak_raw`).
pub struct PeakSampler {
    peak_raw: Arc<AtomicI64>,
    peak: Arc<AtomicI64>,
    samples: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl PeakSampler {
    /// Samples `count(app)` through its own admin connection on `url`, on a thread of its
    /// own (so that a busy test runtime does not slow the sampling down).
    pub fn pg(url: String, app: String, limit: i64) -> Self {
        let peak = Arc::new(AtomicI64::new(0));
        let peak_raw = Arc::new(AtomicI64::new(0));
        let samples = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, pr, s, st) = (
            peak.clone(),
            peak_raw.clone(),
            samples.clone(),
            stop.clone(),
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sampler runtime");
            rt.block_on(async move {
                let admin = PgAdmin::connect(&url).await.expect("sampler connection");
                let _ = ready_tx.send(());
                while !st.load(Ordering::Relaxed) {
                    let (held, raw) = admin.count_held(&app, limit).await;
                    p.fetch_max(held, Ordering::Relaxed);
                    pr.fetch_max(raw, Ordering::Relaxed);
                    s.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        });
        let _ = ready_rx.recv_timeout(Duration::from_secs(10));
        Self {
            peak_raw,
            peak,
            samples,
            stop,
            thread,
        }
    }

    /// The peak so far.
    pub fn peak(&self) -> i64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Stops sampling; returns (peak held, peak listed, number of samples).
    pub fn finish(self) -> (i64, i64, i64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.peak.load(Ordering::Relaxed),
            self.peak_raw.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
        )
    }
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

/// A TCP server that accepts connections and never answers: a database that hangs.
pub async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// A port on which nothing listens (bound, then released): connects are refused.
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
