//! Runs the whole benchmark in one invocation: every variant's server in turn (each in a
//! process of its own) under wrk, with the connection sampler running from before the server
//! starts until its connections are gone; then the cold-start experiment and the memory
//! binary. Writes `results.json` and `results.md` and prints the table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::args::Args;
use crate::sampler::{self, Sampler, Samples};
use crate::server::{Query, Variant};
use crate::wrk::{self, Load, WrkResult};
use crate::{client, db_url, fail, tenant_db, tenant_key, Result, SCHEMA_DB};

/// Everything one invocation does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The CI smoke run: tiny, B, C1 and C2 only, exits non-zero when C breaks its budget.
    pub smoke: bool,
    /// `postgres://user@host:port`.
    pub pg: String,
    /// Where results and server logs go.
    pub out: PathBuf,
    /// Tenants of C1, C2 and E.
    pub tenants: usize,
    /// tenantpool's budget.
    pub budget: usize,
    /// Size of A's pool and of each tenantpool pool.
    pub pool_size: usize,
    /// Size of each of E's pools.
    pub naive_pool_size: usize,
    /// actix workers of every server.
    pub workers: usize,
    /// Zipf exponent of the tenant distribution.
    pub zipf_s: f64,
    /// wrk threads.
    pub threads: usize,
    /// wrk connections.
    pub connections: usize,
    /// Rounds of A and B, interleaved (A B A B ...); the table shows the medians.
    pub rounds_ab: usize,
    /// Measured seconds of A and B per round.
    pub duration_ab: Duration,
    /// Measured seconds of C1, C2 and E.
    pub duration_c: Duration,
    /// Measured seconds of D.
    pub duration_d: Duration,
    /// Warm-up before every measurement of A, B and D.
    pub warmup: Duration,
    /// Warm-up of C1, C2 and E (where the tenants start).
    pub warmup_c: Duration,
    /// Variants to run.
    pub variants: Vec<Variant>,
    /// Run the cold-start experiment.
    pub coldstart: bool,
    /// Concurrent first requests of the stampede.
    pub stampede: usize,
    /// Tenant counts of the memory measurement (empty: skip).
    pub memory_tenants: Vec<usize>,
    /// Sampler period.
    pub sample_every: Duration,
    /// First port; each server gets the next one.
    pub port: u16,
    /// Tenants are `t<k>.<domain>`.
    pub domain: String,
    /// The query every server runs per request (`--query cached|sql`).
    pub query: Query,
}

impl Plan {
    /// The full run, or the smoke run, with overrides from the command line.
    pub fn from_args(args: &Args) -> Result<Self> {
        let smoke = args.flag("smoke");
        let secs = |name: &str, default: f64| -> Result<Duration> {
            Ok(Duration::from_secs_f64(args.get(name, default)?))
        };
        let variants = match args.str("variants") {
            Some(list) => list
                .split(',')
                .map(Variant::parse)
                .collect::<Result<Vec<_>>>()?,
            None if smoke => vec![Variant::B, Variant::C1, Variant::C2],
            None => Variant::ALL.to_vec(),
        };
        let memory_default = if smoke { vec![] } else { vec![10_000, 100_000] };
        let memory_tenants = if args.flag("no-memory") {
            vec![]
        } else {
            match args.list::<usize>("memory-tenants")? {
                v if v.is_empty() => memory_default,
                v => v,
            }
        };
        let s = smoke;
        Ok(Self {
            smoke,
            pg: args
                .get("pg", "postgres://postgres@127.0.0.1:5432".to_string())?
                .trim_end_matches('/')
                .to_string(),
            out: PathBuf::from(args.get("out", "target/loadbench/latest".to_string())?),
            tenants: args.get("tenants", if s { 10 } else { 1000 })?,
            budget: args.get("budget", if s { 8 } else { 80 })?,
            pool_size: args.get("pool-size", 10)?,
            naive_pool_size: args.get("naive-pool-size", 5)?,
            workers: args.get("workers", 2)?,
            zipf_s: args.get("zipf-s", 1.1)?,
            threads: args.get("threads", if s { 1 } else { 2 })?,
            connections: args.get("connections", if s { 8 } else { 64 })?,
            rounds_ab: args.get("rounds", if s { 1 } else { 5 })?,
            duration_ab: secs("duration-ab", if s { 2.0 } else { 15.0 })?,
            duration_c: secs("duration-c", if s { 2.0 } else { 20.0 })?,
            duration_d: secs("duration-d", if s { 2.0 } else { 10.0 })?,
            warmup: secs("warmup", if s { 1.0 } else { 3.0 })?,
            warmup_c: secs("warmup-c", if s { 1.0 } else { 10.0 })?,
            variants,
            coldstart: !s && !args.flag("no-coldstart"),
            stampede: args.get("stampede", 500)?,
            memory_tenants,
            sample_every: Duration::from_millis(args.get("sample-ms", 5)?),
            port: args.get("port", 18180)?,
            domain: "lb.localhost".to_string(),
            query: args.str("query").map_or(Ok(Query::Cached), Query::parse)?,
        })
    }

    fn admin_url(&self) -> String {
        db_url(&self.pg, "postgres", "lb_driver")
    }
}

/// One server run of one variant.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `A`, `B`, ...
    pub variant: &'static str,
    /// Round (A and B run several).
    pub round: usize,
    /// The warm-up.
    pub warmup: WrkResult,
    /// The measurement.
    pub measure: WrkResult,
    /// Server-side connections, from before the server started until they were gone.
    pub samples: Samples,
    /// Connections the server opened during the measurement.
    pub connects_measured: Option<u64>,
    /// The server's `/_lb/stats` after the measurement.
    pub stats: Value,
    /// The server process's CPU time and context switches during the measurement.
    pub server_usage: Usage,
}

/// One line of the results table: the runs of a variant, medians over rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `A`, `B`, ...
    pub variant: &'static str,
    /// What it is.
    pub design: &'static str,
    /// Rounds aggregated.
    pub rounds: usize,
    /// Requests per second (median over rounds).
    pub rps: f64,
    /// 2xx requests per second (median).
    pub ok_rps: f64,
    /// Median latency, ms (median over rounds).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (median over rounds).
    pub p99_ms: f64,
    /// Non-2xx responses, measurement (sum over rounds).
    pub non2xx: u64,
    /// Non-2xx responses during warm-ups (sum).
    pub non2xx_warmup: u64,
    /// Socket errors, measurement (sum).
    pub socket_errors: u64,
    /// Socket errors during warm-ups (sum).
    pub socket_errors_warmup: u64,
    /// Most server-side connections at one sample (max over rounds, warm-up included).
    pub max_conns: i64,
    /// Samples taken (sum).
    pub samples: u64,
    /// Samples above the budget (sum; tenantpool variants).
    pub over_budget: u64,
    /// Connections opened per second during the measurement (median).
    pub connects_per_s: Option<f64>,
    /// Server CPU time per request, microseconds (median).
    pub cpu_us_per_req: f64,
    /// Server context switches per request (median).
    pub ctx_per_req: f64,
    /// The errors the server saw, by message (first round with errors).
    pub errors: Value,
}

/// How fast this machine's PostgreSQL opens connections with nothing else running: the
/// ceiling of C2, which needs a connect for every request whose tenant holds no connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectCeiling {
    /// Clients connecting at once.
    pub clients: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Connect, `SELECT 1` and close, per second.
    pub per_second: f64,
    /// The least share of C's requests that must open a connection: the Zipf load outside
    /// the budget's hottest tenants (keeping one connection for each of them is the best any
    /// policy can do).
    pub min_miss_share: f64,
    /// C2's throughput if every cycle went to its connects: `per_second / min_miss_share`.
    pub c2_max_connects_only: f64,
    /// C2's throughput if each request also costs the machine what one of A's does:
    /// `1 / (1 / A + min_miss_share / per_second)` (A saturates the machine, and so do the
    /// connects).
    pub c2_max: Option<f64>,
}

/// The cold-start experiment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ColdStart {
    /// Samples of each sequential measurement.
    pub samples: usize,
    /// `tokio_postgres::connect` to a tenant database: median, ms.
    pub raw_connect_p50_ms: f64,
    /// Same, 99th percentile (max for 50 samples), ms.
    pub raw_connect_max_ms: f64,
    /// Raw connect plus one `SELECT 1`: median, ms.
    pub raw_connect_query_p50_ms: f64,
    /// Time to first byte of a warm tenant over a new HTTP connection: median, ms.
    pub warm_ttfb_p50_ms: f64,
    /// Time to first byte of a cold tenant (C2's server): median, ms.
    pub cold_ttfb_p50_ms: f64,
    /// Same, max, ms.
    pub cold_ttfb_max_ms: f64,
    /// Cold TTFB minus raw connect + query (medians), ms.
    pub cold_overhead_ms: f64,
    /// Concurrent first requests for one cold tenant.
    pub stampede_requests: usize,
    /// Of which answered 200.
    pub stampede_ok: usize,
    /// TTFB of the stampede: median, ms.
    pub stampede_ttfb_p50_ms: f64,
    /// Same, max, ms.
    pub stampede_ttfb_max_ms: f64,
    /// Directory lookups the stampede caused.
    pub stampede_directory_lookups: u64,
    /// Tenant starts it caused.
    pub stampede_tenants_started: u64,
    /// Pools it built.
    pub stampede_pools_created: u64,
    /// Connections it opened.
    pub stampede_connections: u64,
    /// Pool size (the most it could open).
    pub pool_size: usize,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When (UTC, RFC 3339).
    pub date: String,
    /// The machine.
    pub machine: Value,
    /// The command line.
    pub command: String,
    /// The plan, as text.
    pub plan: String,
    /// Each server run.
    pub runs: Vec<Run>,
    /// The table.
    pub rows: Vec<Row>,
    /// The cold-start experiment.
    pub coldstart: Option<ColdStart>,
    /// The connect-rate ceiling of C2.
    pub connect_ceiling: Option<ConnectCeiling>,
    /// The memory measurement (the memory binary's JSON).
    pub memory: Vec<Value>,
    /// Each target, measured.
    pub targets: Vec<Target>,
    /// Parts that failed (cold start, memory), with their errors.
    pub failures: Vec<String>,
}

/// A target of the issue, and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What.
    pub name: String,
    /// Measured.
    pub measured: String,
    /// Met?
    pub met: bool,
}

fn log(message: impl AsRef<str>) {
    eprintln!("loadbench: {}", message.as_ref());
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A server process.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn spawn(plan: &Plan, variant: Variant, port: u16, log_path: &Path) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let log_file = std::fs::File::create(log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let child = Command::new(exe)
            .arg("serve")
            .args(["--variant", variant.label()])
            .args(["--port", &port.to_string()])
            .args(["--pg", &plan.pg])
            .args(["--budget", &plan.budget.to_string()])
            .args(["--pool-size", &plan.pool_size.to_string()])
            .args(["--naive-pool-size", &plan.naive_pool_size.to_string()])
            .args(["--workers", &plan.workers.to_string()])
            .args(["--domain", &plan.domain])
            .args(["--tenants", &plan.tenants.to_string()])
            .args(["--query", plan.query.label()])
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the {} server: {e}", variant.label()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { child, addr };
        if let Err(e) = client::wait_healthy(server.addr, Duration::from_secs(30)).await {
            server.stop().await;
            return fail(format!(
                "{e} (variant {}; see {})",
                variant.label(),
                log_path.display()
            ));
        }
        Ok(server)
    }

    /// SIGINT (actix drains and stops), then SIGKILL after 15 s.
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                log("the server did not stop within 15 s of SIGINT; killing it");
                let _ = self.child.kill().await;
            }
        }
    }
}

/// CPU time and context switches of a process (all its threads), from /proc.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
    /// Voluntary plus involuntary context switches, summed over threads.
    pub ctx_switches: u64,
}

impl Usage {
    fn of(pid: Option<u32>) -> Self {
        let Some(pid) = pid else {
            return Self::default();
        };
        // SAFETY: sysconf has no memory-safety requirements.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may contain spaces) start at field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name.
        let cpu_s = (field(11) + field(12)) / ticks;
        let mut ctx_switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                for line in status.lines() {
                    if let Some(v) = line
                        .strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                    {
                        ctx_switches += v.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
        Self {
            cpu_s,
            ctx_switches,
        }
    }
}

fn load(plan: &Plan, tenants: usize, duration: Duration) -> Load {
    Load {
        threads: plan.threads,
        connections: plan.connections,
        duration,
        tenants,
        zipf_s: plan.zipf_s,
        domain: plan.domain.clone(),
        seed: 42,
    }
}

fn connects(stats: &Value) -> Option<u64> {
    stats.get("connects").and_then(Value::as_u64)
}

async fn run_variant(
    plan: &Plan,
    variant: Variant,
    round: usize,
    port: u16,
    script: &Path,
    admin: &tokio_postgres::Client,
) -> Result<Run> {
    let app = variant.app_name();
    let left = sampler::wait_drained(admin, &app, Duration::from_secs(15)).await?;
    if left > 0 {
        log(format!(
            "warning: {left} connections tagged {app} are still open"
        ));
    }
    let (tenants, warmup, duration) = match variant {
        Variant::A | Variant::B => (1, plan.warmup, plan.duration_ab),
        Variant::D => (1, plan.warmup, plan.duration_d),
        Variant::C1 | Variant::C2 | Variant::E => (plan.tenants, plan.warmup_c, plan.duration_c),
    };
    let budget = variant.is_tenantpool().then_some(plan.budget as i64);
    let sampler = Sampler::start(&plan.admin_url(), &app, plan.sample_every, budget).await?;
    let log_path = plan
        .out
        .join(format!("server-{}-{round}.log", variant.label()));
    log(format!(
        "{} ({}), round {}: warm-up {:?}, measure {:?}, {} tenant(s)",
        variant.label(),
        variant.describe(),
        round + 1,
        warmup,
        duration,
        tenants
    ));
    let mut server = Server::spawn(plan, variant, port, &log_path).await?;
    let url = format!("http://{}/", server.addr);
    let result = async {
        let warm = wrk::run(&url, script, &load(plan, tenants, warmup)).await?;
        let before = client::stats(server.addr).await?;
        let usage_before = Usage::of(server.child.id());
        let measure = wrk::run(&url, script, &load(plan, tenants, duration)).await?;
        let usage_after = Usage::of(server.child.id());
        let after = client::stats(server.addr).await?;
        let usage = Usage {
            cpu_s: usage_after.cpu_s - usage_before.cpu_s,
            ctx_switches: usage_after
                .ctx_switches
                .saturating_sub(usage_before.ctx_switches),
        };
        Ok::<_, crate::BoxError>((warm, before, measure, after, usage))
    }
    .await;
    server.stop().await;
    let left = sampler::wait_drained(admin, &app, Duration::from_secs(15)).await?;
    let samples = sampler.finish().await?;
    if left > 0 {
        log(format!(
            "warning: {left} connections tagged {app} outlived the server"
        ));
    }
    let (warmup, before, measure, stats, usage) = result?;
    let connects_measured = match (connects(&before), connects(&stats)) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    log(format!(
        "{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {}, max conns {}",
        variant.label(),
        measure.rps(),
        measure.p50_us as f64 / 1000.0,
        measure.p99_us as f64 / 1000.0,
        measure.non2xx,
        measure.socket_errors(),
        samples.max_app
    ));
    Ok(Run {
        variant: variant.label(),
        round,
        warmup,
        measure,
        samples,
        connects_measured,
        stats,
        server_usage: usage,
    })
}

fn aggregate(variant: Variant, runs: &[&Run]) -> Row {
    let f = |g: &dyn Fn(&Run) -> f64| median(runs.iter().map(|r| g(r)).collect());
    let errors = runs
        .iter()
        .map(|r| error_summary(&r.stats))
        .find(|v| !v.is_null())
        .unwrap_or(Value::Null);
    let connect_rates: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            r.connects_measured
                .map(|c| c as f64 / (r.measure.duration_us.max(1) as f64 / 1e6))
        })
        .collect();
    Row {
        variant: variant.label(),
        design: variant.describe(),
        rounds: runs.len(),
        rps: f(&|r| r.measure.rps()),
        ok_rps: f(&|r| r.measure.ok_rps()),
        p50_ms: f(&|r| r.measure.p50_us as f64 / 1000.0),
        p99_ms: f(&|r| r.measure.p99_us as f64 / 1000.0),
        non2xx: runs.iter().map(|r| r.measure.non2xx).sum(),
        non2xx_warmup: runs.iter().map(|r| r.warmup.non2xx).sum(),
        socket_errors: runs.iter().map(|r| r.measure.socket_errors()).sum(),
        socket_errors_warmup: runs.iter().map(|r| r.warmup.socket_errors()).sum(),
        max_conns: runs.iter().map(|r| r.samples.max_app).max().unwrap_or(0),
        samples: runs.iter().map(|r| r.samples.samples).sum(),
        over_budget: runs.iter().map(|r| r.samples.over_budget).sum(),
        connects_per_s: (!connect_rates.is_empty()).then(|| median(connect_rates)),
        cpu_us_per_req: f(&|r| r.server_usage.cpu_s * 1e6 / r.measure.requests.max(1) as f64),
        ctx_per_req: f(&|r| r.server_usage.ctx_switches as f64 / r.measure.requests.max(1) as f64),
        errors,
    }
}

/// The errors a server reported: messages for the hand-written variants, the registry's
/// failure counters for tenantpool.
fn error_summary(stats: &Value) -> Value {
    if let Some(by_message) = stats.pointer("/errors/by_message") {
        if by_message.as_object().is_some_and(|m| !m.is_empty()) {
            return by_message.clone();
        }
        return Value::Null;
    }
    if let Some(counters) = stats.pointer("/registry/counters") {
        let pick = |k: &str| counters.get(k).and_then(Value::as_u64).unwrap_or(0);
        let keys = [
            "checkout_timeouts",
            "connect_failures",
            "tenants_failed",
            "discarded_dirty",
            "discarded_broken",
        ];
        let nonzero: serde_json::Map<String, Value> = keys
            .iter()
            .filter(|k| pick(k) > 0)
            .map(|k| (k.to_string(), Value::from(pick(k))))
            .collect();
        if !nonzero.is_empty() {
            return Value::Object(nonzero);
        }
    }
    Value::Null
}

/// Checks that the databases and schemas the plan needs exist (scripts/loadbench creates
/// them).
async fn check_databases(plan: &Plan, admin: &tokio_postgres::Client) -> Result<()> {
    let wanted: Vec<String> = (1..=plan.tenants).map(tenant_db).collect();
    let row = admin
        .query_one(
            "SELECT count(*)::int8 FROM pg_database WHERE datname = ANY($1)",
            &[&wanted],
        )
        .await?;
    let found: i64 = row.get(0);
    if found != plan.tenants as i64 {
        return fail(format!(
            "{found} of the {} databases lb_t1..lb_t{} exist: run scripts/loadbench, which creates them",
            plan.tenants, plan.tenants
        ));
    }
    let schemas = sampler::connect(&db_url(&plan.pg, SCHEMA_DB, "lb_driver")).await?;
    let keys: Vec<String> = (1..=plan.tenants).map(tenant_key).collect();
    let row = schemas
        .query_one(
            "SELECT count(*)::int8 FROM pg_namespace WHERE nspname = ANY($1)",
            &[&keys],
        )
        .await?;
    let found: i64 = row.get(0);
    if found != plan.tenants as i64 {
        return fail(format!(
            "{found} of the {} schemas t1..t{} exist in {SCHEMA_DB}: run scripts/loadbench, which creates them",
            plan.tenants, plan.tenants
        ));
    }
    Ok(())
}

fn machine_info(pg_version: String) -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    serde_json::json!({
        "cpu": cpu,
        "cores": cores,
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel,
        "postgres": pg_version,
        "loadavg_at_start": read("/proc/loadavg").trim(),
    })
}

/// Runs the plan; returns the report and whether the smoke checks passed.
pub async fn run(plan: Plan, command: String) -> Result<(Report, bool)> {
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| format!("cannot create {}: {e}", plan.out.display()))?;
    let script = wrk::write_script(&plan.out)?;
    let admin = sampler::connect(&plan.admin_url()).await?;
    let pg_version: String = admin.query_one("SELECT version()", &[]).await?.get(0);
    check_databases(&plan, &admin).await?;
    let machine = machine_info(pg_version);
    log(format!("machine: {machine}"));
    let date = admin
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .await?
        .get(0);

    // A and B interleave (A B A B ...) so that drift on this noisy machine hits both.
    let mut order: Vec<(Variant, usize)> = Vec::new();
    let ab: Vec<Variant> = plan
        .variants
        .iter()
        .copied()
        .filter(|v| matches!(v, Variant::A | Variant::B))
        .collect();
    for round in 0..plan.rounds_ab.max(1) {
        order.extend(ab.iter().map(|v| (*v, round)));
    }
    order.extend(
        plan.variants
            .iter()
            .copied()
            .filter(|v| !matches!(v, Variant::A | Variant::B))
            .map(|v| (v, 0)),
    );

    let mut runs = Vec::new();
    let mut port = plan.port;
    for (variant, round) in order {
        let run = run_variant(&plan, variant, round, port, &script, &admin).await?;
        runs.push(run);
        // Kept as it goes, so that a failure later leaves what was measured.
        std::fs::write(
            plan.out.join("runs.json"),
            serde_json::to_string_pretty(&runs)?,
        )?;
        port += 1;
    }
    let rows: Vec<Row> = plan
        .variants
        .iter()
        .map(|v| {
            let of: Vec<&Run> = runs.iter().filter(|r| r.variant == v.label()).collect();
            aggregate(*v, &of)
        })
        .collect();

    let mut failures = Vec::new();
    let connect_ceiling = if !plan.smoke && plan.variants.contains(&Variant::C2) {
        match connect_ceiling(&plan, row(&rows, "A").map(|a| a.rps)).await {
            Ok(c) => Some(c),
            Err(e) => {
                log(format!(
                    "error: the connect-ceiling measurement failed: {e}"
                ));
                failures.push(format!("connect ceiling: {e}"));
                None
            }
        }
    } else {
        None
    };
    let coldstart = if plan.coldstart {
        port += 1;
        match cold_start(&plan, port, &admin).await {
            Ok(c) => Some(c),
            Err(e) => {
                log(format!("error: the cold-start experiment failed: {e}"));
                failures.push(format!("cold start: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut memory = Vec::new();
    for tenants in &plan.memory_tenants {
        match memory_run(&plan, *tenants).await {
            Ok(m) => memory.push(m),
            Err(e) => {
                log(format!("error: the memory measurement failed: {e}"));
                failures.push(format!("memory at {tenants} tenants: {e}"));
            }
        }
    }

    let targets = targets(
        &plan,
        &rows,
        coldstart.as_ref(),
        connect_ceiling.as_ref(),
        &memory,
    );
    let smoke_ok = smoke_checks(&plan, &rows) && failures.is_empty();
    let report = Report {
        date,
        machine,
        command,
        plan: format!("{plan:?}"),
        runs,
        rows,
        coldstart,
        connect_ceiling,
        memory,
        targets,
        failures,
    };
    Ok((report, smoke_ok))
}

fn row<'a>(rows: &'a [Row], label: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.variant == label)
}

fn targets(
    plan: &Plan,
    rows: &[Row],
    cold: Option<&ColdStart>,
    ceiling: Option<&ConnectCeiling>,
    memory: &[Value],
) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |name: String, measured: String, met: bool| {
        out.push(Target {
            name,
            measured,
            met,
        })
    };
    let (a, b, c1, c2, d, e) = (
        row(rows, "A"),
        row(rows, "B"),
        row(rows, "C1"),
        row(rows, "C2"),
        row(rows, "D"),
        row(rows, "E"),
    );
    if let (Some(a), Some(b)) = (a, b) {
        let ratio = b.rps / a.rps.max(1e-9);
        add(
            "B/A throughput ≥ 0.97".into(),
            format!("{ratio:.3} ({:.0} / {:.0} req/s)", b.rps, a.rps),
            ratio >= 0.97,
        );
        let ratio = b.p99_ms / a.p99_ms.max(1e-9);
        add(
            "B p99 ≤ 1.05 × A p99".into(),
            format!("{ratio:.3} ({:.2} / {:.2} ms)", b.p99_ms, a.p99_ms),
            ratio <= 1.05,
        );
    }
    for c in [c1, c2].into_iter().flatten() {
        let errors = c.non2xx + c.non2xx_warmup;
        let sockets = c.socket_errors + c.socket_errors_warmup;
        add(
            format!("{}: zero non-2xx (warm-up included)", c.variant),
            format!("{errors} non-2xx, {sockets} socket errors"),
            errors == 0 && sockets == 0,
        );
        add(
            format!(
                "{}: server connections ≤ {} at every sample",
                c.variant, plan.budget
            ),
            format!(
                "max {} over {} samples ({} above)",
                c.max_conns, c.samples, c.over_budget
            ),
            c.max_conns <= plan.budget as i64 && c.over_budget == 0,
        );
    }
    if let (Some(a), Some(c1)) = (a, c1) {
        let ratio = c1.rps / a.rps.max(1e-9);
        add(
            "C1 throughput ≥ 0.7 × A".into(),
            format!("{ratio:.3} ({:.0} / {:.0} req/s)", c1.rps, a.rps),
            ratio >= 0.7,
        );
    }
    if let (Some(c2), Some(e)) = (c2, e) {
        let ratio = c2.ok_rps / e.ok_rps.max(1e-9);
        let bound = ceiling.map_or(String::new(), |c| {
            let best = c.c2_max.unwrap_or(c.c2_max_connects_only);
            format!(
                "; this machine's connect ceiling allows C2 at most {best:.0} req/s = {:.2} × E's 2xx",
                best / e.ok_rps.max(1e-9)
            )
        });
        add(
            "C2 throughput ≥ 2 × E's 2xx req/s".into(),
            format!(
                "{ratio:.2} ({:.0} / {:.0} 2xx req/s); C2 opened {:.0} connections/s{bound}",
                c2.ok_rps,
                e.ok_rps,
                c2.connects_per_s.unwrap_or(0.0)
            ),
            ratio >= 2.0,
        );
    }
    if let (Some(a), Some(d)) = (a, d) {
        add(
            "D far slower or failing".into(),
            format!(
                "{:.0} req/s = {:.3} × A; {} non-2xx",
                d.rps,
                d.rps / a.rps.max(1e-9),
                d.non2xx
            ),
            d.rps < 0.5 * a.rps || d.non2xx > 0,
        );
    }
    if let (Some(c2), Some(e)) = (c2, e) {
        add(
            "E failing or far slower".into(),
            format!(
                "{} non-2xx of {:.0} req/s; {:.0} 2xx req/s vs C2's {:.0}",
                e.non2xx, e.rps, e.ok_rps, c2.ok_rps
            ),
            e.non2xx > 0 || e.ok_rps < 0.5 * c2.ok_rps,
        );
    }
    if let Some(cold) = cold {
        add(
            format!(
                "{} concurrent first requests for one cold tenant: one start, ≤ pool size connections",
                cold.stampede_requests
            ),
            format!(
                "{} × 200; {} directory lookup(s), {} start(s), {} pool(s), {} connection(s) (pool size {})",
                cold.stampede_ok,
                cold.stampede_directory_lookups,
                cold.stampede_tenants_started,
                cold.stampede_pools_created,
                cold.stampede_connections,
                cold.pool_size
            ),
            cold.stampede_ok == cold.stampede_requests
                && cold.stampede_tenants_started == 1
                && cold.stampede_pools_created == 1
                && cold.stampede_connections as usize <= cold.pool_size,
        );
    }
    for m in memory {
        let tenants = m.get("tenants").and_then(Value::as_u64).unwrap_or(0);
        let per = m
            .get("bytes_per_tenant")
            .and_then(Value::as_f64)
            .unwrap_or(f64::MAX);
        add(
            format!("≤ 2 KiB per cached idle tenant at {tenants} tenants"),
            format!("{per:.0} B"),
            per <= 2048.0,
        );
    }
    out
}

/// The smoke run's verdict: every variant served, and C stayed within its budget with no
/// failed request.
fn smoke_checks(plan: &Plan, rows: &[Row]) -> bool {
    let mut ok = true;
    for r in rows {
        if r.ok_rps <= 0.0 {
            log(format!(
                "SMOKE FAIL: {} served no successful request",
                r.variant
            ));
            ok = false;
        }
        if matches!(r.variant, "C1" | "C2") {
            if r.max_conns > plan.budget as i64 || r.over_budget > 0 {
                log(format!(
                    "SMOKE FAIL: {} opened {} connections, budget {}",
                    r.variant, r.max_conns, plan.budget
                ));
                ok = false;
            }
            if r.samples == 0 {
                log(format!(
                    "SMOKE FAIL: {}: the sampler took no sample",
                    r.variant
                ));
                ok = false;
            }
            let failed = r.non2xx + r.non2xx_warmup + r.socket_errors + r.socket_errors_warmup;
            if failed > 0 {
                log(format!(
                    "SMOKE FAIL: {} answered {failed} requests with an error",
                    r.variant
                ));
                ok = false;
            }
        }
    }
    ok
}

// ---- cold start ----------------------------------------------------------------------------

/// The share of a Zipf(`s`) load over `tenants` tenants that falls outside the `hottest`.
fn zipf_mass_outside(tenants: usize, s: f64, hottest: usize) -> f64 {
    let weight = |k: usize| (k as f64).powf(-s);
    let all: f64 = (1..=tenants).map(weight).sum();
    let hot: f64 = (1..=hottest.min(tenants)).map(weight).sum();
    1.0 - hot / all.max(f64::MIN_POSITIVE)
}

/// Opens connections as fast as the server takes them (16 clients, each connecting, running
/// `SELECT 1` and closing in a loop for 5 s), with no server under test running.
async fn connect_ceiling(plan: &Plan, a_rps: Option<f64>) -> Result<ConnectCeiling> {
    const CLIENTS: usize = 16;
    const FOR: Duration = Duration::from_secs(5);
    log(format!(
        "connect ceiling: {CLIENTS} clients connecting in a loop for {FOR:?}"
    ));
    let url = db_url(&plan.pg, &tenant_db(1), "lb_raw");
    let started = Instant::now();
    let deadline = started + FOR;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            let mut cycles = 0u64;
            while Instant::now() < deadline {
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                let driver = tokio::spawn(connection);
                client.simple_query("SELECT 1").await?;
                drop(client);
                let _ = driver.await;
                cycles += 1;
            }
            Ok::<u64, tokio_postgres::Error>(cycles)
        }));
    }
    let mut cycles = 0;
    for client in clients {
        cycles += client.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_second = cycles as f64 / seconds.max(1e-9);
    let min_miss_share = zipf_mass_outside(plan.tenants, plan.zipf_s, plan.budget);
    let c2_max_connects_only = per_second / min_miss_share.max(1e-9);
    let c2_max = a_rps.map(|a| 1.0 / (1.0 / a.max(1e-9) + min_miss_share / per_second.max(1e-9)));
    log(format!(
        "connect ceiling: {per_second:.0} connects/s; at least {:.1} % of C's requests must connect",
        min_miss_share * 100.0
    ));
    Ok(ConnectCeiling {
        clients: CLIENTS,
        seconds,
        per_second,
        min_miss_share,
        c2_max_connects_only,
        c2_max,
    })
}

async fn cold_start(plan: &Plan, port: u16, admin: &tokio_postgres::Client) -> Result<ColdStart> {
    let samples = 50.min(plan.tenants.saturating_sub(2)).max(1);
    let cold_tenants: Vec<usize> = (plan.tenants + 1 - samples..=plan.tenants).collect();
    let stampede_tenant = (plan.tenants + 1 - samples).saturating_sub(1).max(2);
    log(format!(
        "cold start: raw connects to {samples} tenant databases, then a fresh C2 server"
    ));

    // The floor: what any cold start has to do, a connect and one query.
    let mut connect = Vec::new();
    let mut connect_query = Vec::new();
    for k in &cold_tenants {
        let url = db_url(&plan.pg, &tenant_db(*k), "lb_raw");
        // A database's first connection after it was created builds its relation cache
        // file; connect once untimed so that the raw and the cold measurement both see a
        // database that has been opened before.
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        drop(client);
        let _ = driver.await;
        let started = Instant::now();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        let connected = started.elapsed();
        let driver = tokio::spawn(connection);
        client.simple_query("SELECT 1").await?;
        connect.push(ms(connected));
        connect_query.push(ms(started.elapsed()));
        drop(client);
        let _ = driver.await;
    }

    let app = Variant::C2.app_name();
    sampler::wait_drained(admin, &app, Duration::from_secs(15)).await?;
    let log_path = plan.out.join("server-coldstart.log");
    let mut server = Server::spawn(plan, Variant::C2, port, &log_path).await?;
    let result = async {
        let host = |k: usize| format!("{}.{}", tenant_key(k), plan.domain);
        // Warm tenant t1, then measure its TTFB over new HTTP connections.
        let mut warm = Vec::new();
        for i in 0..=samples {
            let mut stream = TcpStream::connect(server.addr).await?;
            let (t, status) = client::ttfb(&mut stream, &host(1), "/").await?;
            if status != 200 {
                return fail(format!("warm tenant answered {status}"));
            }
            if i > 0 {
                warm.push(ms(t));
            }
        }
        let mut cold = Vec::new();
        for k in &cold_tenants {
            let mut stream = TcpStream::connect(server.addr).await?;
            let (t, status) = client::ttfb(&mut stream, &host(*k), "/").await?;
            if status != 200 {
                return fail(format!("cold tenant t{k} answered {status}"));
            }
            cold.push(ms(t));
        }

        // The stampede: every socket connected first, then all requests at once.
        let before = client::stats(server.addr).await?;
        let mut streams = Vec::with_capacity(plan.stampede);
        for _ in 0..plan.stampede {
            streams.push(TcpStream::connect(server.addr).await?);
        }
        let go = Arc::new(tokio::sync::Barrier::new(plan.stampede));
        let target = Arc::new(host(stampede_tenant));
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut stream| {
                let go = go.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    go.wait().await;
                    client::ttfb(&mut stream, &target, "/").await
                })
            })
            .collect();
        let mut ttfb = Vec::new();
        let mut ok = 0;
        for task in tasks {
            let (t, status) = task.await.map_err(|e| format!("stampede task: {e}"))??;
            ttfb.push(ms(t));
            if status == 200 {
                ok += 1;
            }
        }
        let after = client::stats(server.addr).await?;
        let delta = |key: &str| {
            let get = |v: &Value| {
                v.pointer(&format!("/registry/counters/{key}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            get(&after).saturating_sub(get(&before))
        };
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let raw_p50 = median(connect_query.clone());
        let cold_p50 = median(cold.clone());
        Ok(ColdStart {
            samples,
            raw_connect_p50_ms: median(connect.clone()),
            raw_connect_max_ms: max(&connect),
            raw_connect_query_p50_ms: raw_p50,
            warm_ttfb_p50_ms: median(warm),
            cold_ttfb_p50_ms: cold_p50,
            cold_ttfb_max_ms: max(&cold),
            cold_overhead_ms: cold_p50 - raw_p50,
            stampede_requests: plan.stampede,
            stampede_ok: ok,
            stampede_ttfb_p50_ms: median(ttfb.clone()),
            stampede_ttfb_max_ms: max(&ttfb),
            stampede_directory_lookups: delta("directory_lookups"),
            stampede_tenants_started: delta("tenants_started"),
            stampede_pools_created: delta("pools_created"),
            stampede_connections: delta("connections_created"),
            pool_size: plan.pool_size,
        })
    }
    .await;
    server.stop().await;
    sampler::wait_drained(admin, &app, Duration::from_secs(15)).await?;
    let cold = result?;
    log(format!("cold start: {cold:?}"));
    Ok(cold)
}

// ---- memory --------------------------------------------------------------------------------

async fn memory_run(plan: &Plan, tenants: usize) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let memory_exe = exe.with_file_name("tenantpool-loadbench-memory");
    log(format!("memory: {tenants} cached idle tenants"));
    let output = Command::new(&memory_exe)
        .args(["--pg", &plan.pg])
        .args(["--tenants", &tenants.to_string()])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", memory_exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return fail(format!(
            "the memory benchmark failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let Some(json) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LOADBENCH_JSON "))
    else {
        return fail(format!("the memory benchmark printed no result:\n{stdout}"));
    };
    let value: Value = serde_json::from_str(json)?;
    log(format!("memory: {value}"));
    Ok(value)
}

// ---- the report ----------------------------------------------------------------------------

/// The results as Markdown: the table, the targets, cold start and memory.
pub fn markdown(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let m = &report.machine;
    let _ = writeln!(s, "Date: {} (UTC)  ", report.date);
    let _ = writeln!(
        s,
        "Machine: {} cores ({}), {} GiB, Linux {}; {}  ",
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        m["memory_gib"],
        m["kernel"].as_str().unwrap_or("?"),
        m["postgres"]
            .as_str()
            .unwrap_or("?")
            .split(" on ")
            .next()
            .unwrap_or("?")
    );
    let _ = writeln!(s, "Load average at start: {}  ", m["loadavg_at_start"]);
    let _ = writeln!(s, "Command: `{}`\n", report.command);
    let _ = writeln!(
        s,
        "| variant | design | req/s | 2xx req/s | p50 ms | p99 ms | non-2xx | socket errors | max server conns | connects/s | server CPU µs/req | ctx switches/req |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &report.rows {
        let rounds = if r.rounds > 1 {
            format!(" (median of {})", r.rounds)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {}{} | {:.0} | {:.0} | {:.2} | {:.2} | {} (+{} warm-up) | {} (+{} warm-up) | {} | {} | {:.1} | {:.2} |",
            r.variant,
            r.design,
            rounds,
            r.rps,
            r.ok_rps,
            r.p50_ms,
            r.p99_ms,
            r.non2xx,
            r.non2xx_warmup,
            r.socket_errors,
            r.socket_errors_warmup,
            r.max_conns,
            r.connects_per_s
                .map_or_else(|| "-".to_string(), |c| format!("{c:.0}")),
            r.cpu_us_per_req,
            r.ctx_per_req
        );
    }
    let named: Vec<&Row> = report.rows.iter().filter(|r| !r.errors.is_null()).collect();
    if !named.is_empty() {
        let _ = writeln!(s, "\nErrors the servers reported:\n");
        for r in named {
            if let Some(map) = r.errors.as_object() {
                for (message, count) in map {
                    let _ = writeln!(s, "- {}: {count} × `{}`", r.variant, message.trim());
                }
            }
        }
    }
    if report.runs.iter().any(|r| r.round > 0) {
        let _ = writeln!(s, "\nEvery round of A and B (interleaved A B A B ...):\n");
        let _ = writeln!(
            s,
            "| run | req/s | p50 ms | p99 ms | server CPU µs/req | ctx switches/req |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for r in report
            .runs
            .iter()
            .filter(|r| matches!(r.variant, "A" | "B"))
        {
            let n = r.measure.requests.max(1) as f64;
            let _ = writeln!(
                s,
                "| {}{} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} |",
                r.variant,
                r.round + 1,
                r.measure.rps(),
                r.measure.p50_us as f64 / 1000.0,
                r.measure.p99_us as f64 / 1000.0,
                r.server_usage.cpu_s * 1e6 / n,
                r.server_usage.ctx_switches as f64 / n
            );
        }
    }
    if let Some(c) = &report.connect_ceiling {
        let _ = writeln!(
            s,
            "\nConnect ceiling: {:.0} connects/s (raw `tokio_postgres::connect`, `SELECT 1` and close, {} clients for {:.1} s, no server under test running). At least {:.1} % of C's requests must open a connection (the Zipf load outside the budget's hottest tenants), so C2 ≤ {:.0} req/s if every cycle went to connects{}.",
            c.per_second,
            c.clients,
            c.seconds,
            c.min_miss_share * 100.0,
            c.c2_max_connects_only,
            c.c2_max.map_or(String::new(), |m| format!(
                ", and ≤ {m:.0} req/s once each request also costs the machine what one of A's does"
            ))
        );
    }
    if let Some(c) = &report.coldstart {
        let _ = writeln!(s, "\nCold start ({} samples each):\n", c.samples);
        let _ = writeln!(s, "| measurement | median ms | max ms |");
        let _ = writeln!(s, "|---|---:|---:|");
        let _ = writeln!(
            s,
            "| raw `tokio_postgres::connect` to a tenant database | {:.2} | {:.2} |",
            c.raw_connect_p50_ms, c.raw_connect_max_ms
        );
        let _ = writeln!(
            s,
            "| raw connect + `SELECT 1` | {:.2} | - |",
            c.raw_connect_query_p50_ms
        );
        let _ = writeln!(
            s,
            "| TTFB, warm tenant, new HTTP connection | {:.2} | - |",
            c.warm_ttfb_p50_ms
        );
        let _ = writeln!(
            s,
            "| TTFB, cold tenant (C2 server) | {:.2} | {:.2} |",
            c.cold_ttfb_p50_ms, c.cold_ttfb_max_ms
        );
        let _ = writeln!(
            s,
            "| {} concurrent first requests, one cold tenant: TTFB | {:.2} | {:.2} |",
            c.stampede_requests, c.stampede_ttfb_p50_ms, c.stampede_ttfb_max_ms
        );
        let _ = writeln!(
            s,
            "\nStampede: {} of {} answered 200; {} directory lookup(s), {} tenant start(s), {} pool(s) built, {} connection(s) opened (pool size {}).",
            c.stampede_ok,
            c.stampede_requests,
            c.stampede_directory_lookups,
            c.stampede_tenants_started,
            c.stampede_pools_created,
            c.stampede_connections,
            c.pool_size
        );
    }
    if !report.memory.is_empty() {
        let _ = writeln!(
            s,
            "\nMemory per cached idle tenant (no open connections):\n"
        );
        let _ = writeln!(
            s,
            "| tenants | live heap bytes added | heap bytes per tenant | allocations per tenant | RSS added per tenant | open connections after reaping |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
        for m in &report.memory {
            let tenants = m["tenants"].as_f64().unwrap_or(1.0).max(1.0);
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.1} | {:.0} | {} |",
                m["tenants"],
                m["bytes_added"],
                m["bytes_per_tenant"].as_f64().unwrap_or(0.0),
                m["allocations_per_tenant"].as_f64().unwrap_or(0.0),
                m["rss_added_bytes"].as_f64().unwrap_or(0.0) / tenants,
                m["open_connections"]
            );
        }
    }
    for failure in &report.failures {
        let _ = writeln!(s, "\n**Failed:** {failure}");
    }
    if !report.targets.is_empty() {
        let _ = writeln!(s, "\nTargets:\n");
        let _ = writeln!(s, "| target | measured | met |");
        let _ = writeln!(s, "|---|---|---|");
        for t in &report.targets {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                t.name,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
    }
    s
}

/// Writes `results.json` and `results.md` into the plan's output directory.
pub fn write(report: &Report, out: &Path) -> Result<String> {
    let md = markdown(report);
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    Ok(md)
}
