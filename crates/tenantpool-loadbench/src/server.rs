//! The servers under test. Every variant answers `GET /` with one `SELECT 1` on a connection
//! to the request's tenant, plus `GET /_lb/health` and `GET /_lb/stats` (a [`ServerStats`])
//! for the driver.
//!
//! The query is `diesel::select(1.into_sql::<Integer>())` by default (`--query cached`): diesel
//! prepares it once per connection and caches the statement, one round trip per request, as a
//! real application's queries are. `--query sql` runs `diesel::sql_query("SELECT 1")` instead,
//! which diesel never caches (a parse and an execute, two round trips): the database then
//! dominates every request and dilutes the overhead being measured.
//!
//! | variant | what | connections |
//! | --- | --- | --- |
//! | A | hand-written actix-web + diesel-async deadpool pool, built outside `HttpServer::new` | one pool of `pool_size` (`RecyclingMethod::Fast`) |
//! | B | tenantpool, one tenant, `ResolveTenant` middleware (Host header) + `TenantConn` | budget |
//! | C1 | tenantpool, schema per tenant: one database, one schema per tenant, one shared pool | budget |
//! | C2 | tenantpool, database per tenant: one pool per tenant | budget |
//! | D | a new connection per request (the anti-pattern) | unbounded |
//! | E | a naive `Mutex<HashMap<tenant, Pool>>`, a pool of 5 per tenant | unbounded |

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use tenantpool::actix::admin::Admin;
use tenantpool::actix::resolve::Resolver;
use tenantpool::actix::{ResolveTenant, TenantConn, TenantRegistry};
use tenantpool::{Registry, Settings, TemplateDirectory, TenantId};

use crate::args::Args;
use crate::query::Query;
use crate::stats::{ErrorCounts, NaivePools, PoolStatus, ServerStats};
use crate::variant::Variant;
use crate::{db_url, fail, tenant_db, tenant_key, Result, SCHEMA_DB};

/// The query of this process's server, set once by [`serve`].
pub(crate) static QUERY: OnceLock<Query> = OnceLock::new();

/// How to run one server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The design.
    pub variant: Variant,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The PostgreSQL server, `postgres://user@host:port` (no database).
    pub pg: String,
    /// tenantpool's connection budget for the server.
    pub budget: usize,
    /// Pool size of A, and of every tenantpool pool.
    pub pool_size: usize,
    /// Pool size of each of E's pools.
    pub naive_pool_size: usize,
    /// actix workers.
    pub workers: usize,
    /// Tenants are subdomains of this domain (`t1.<domain>`).
    pub domain: String,
    /// Tenants `t1..tN` the tenantpool variants' directory lists.
    pub tenants: usize,
    /// Threads of tenantpool's I/O runtime (default: tenantpool's default).
    pub io_threads: Option<usize>,
    /// The query each request runs.
    pub query: Query,
    /// `--replicas N`: the tenantpool variants' `budget.replicas` (the budget is then the
    /// service's, and this process takes `budget / N`).
    pub replicas: usize,
    /// `--metrics on`: the tenantpool variants install the Prometheus recorder before building
    /// their registry and serve it at `GET /_lb/admin/metrics` (bearer token
    /// [`METRICS_TOKEN`]); it needs the crate's `metrics` feature.
    pub metrics: bool,
}

/// The bearer token of `GET /_lb/admin/metrics` under `serve --metrics on`.
pub const METRICS_TOKEN: &str = "loadbench-metrics-token";

impl ServeOptions {
    /// Reads `--variant --port --pg --budget --pool-size --naive-pool-size --workers --domain`.
    pub fn from_args(args: &Args) -> Result<Self> {
        let Some(variant) = args.str("variant") else {
            return fail("serve needs --variant a|b|c1|c2|d|e");
        };
        Ok(Self {
            variant: Variant::parse(variant)?,
            port: args.get("port", 18080)?,
            pg: args
                .get("pg", "postgres://postgres@127.0.0.1:5432".to_string())?
                .trim_end_matches('/')
                .to_string(),
            budget: args.get("budget", 80)?,
            pool_size: args.get("pool-size", 10)?,
            naive_pool_size: args.get("naive-pool-size", 5)?,
            workers: args.get("workers", 2)?,
            domain: args.get("domain", "lb.localhost".to_string())?,
            tenants: args.get("tenants", 1000)?,
            io_threads: args.str("io-threads").map(str::parse).transpose()?,
            query: {
                crate::set_sslmode(args.str("sslmode"))?;
                args.str("query").map_or(Ok(Query::Cached), Query::parse)?
            },
            replicas: args.get("replicas", 1)?,
            metrics: match args.str("metrics").unwrap_or("off") {
                "off" => false,
                "on" if cfg!(feature = "metrics") => true,
                "on" => return fail("--metrics on needs a build with --features metrics"),
                other => return fail(format!("--metrics {other:?}: on or off")),
            },
        })
    }
}

/// Records errors by message (only on error paths), so that the report can name them.
#[derive(Default)]
pub(crate) struct ErrorLog {
    total: AtomicU64,
    by_message: Mutex<BTreeMap<String, u64>>,
}

impl ErrorLog {
    pub(crate) fn record(&self, error: impl Display) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut message = error.to_string();
        if message.len() > 160 {
            let mut cut = 160;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let mut map = self
            .by_message
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(message).or_default() += 1;
    }

    fn snapshot(&self) -> ErrorCounts {
        let by_message = self
            .by_message
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        ErrorCounts {
            total: self.total.load(Ordering::Relaxed),
            by_message,
        }
    }
}

/// The stats of a hand-written variant, before its own details (A's pool, E's pools).
pub(crate) fn hand_written_stats(
    variant: Variant,
    connects: &AtomicU64,
    errors: &ErrorLog,
) -> ServerStats {
    ServerStats {
        variant,
        connects: connects.load(Ordering::Relaxed),
        errors: Some(errors.snapshot()),
        pool: None,
        naive: None,
        registry: None,
    }
}

/// The query every variant's handler runs on its connection.
pub(crate) async fn run_query(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    use diesel::IntoSql as _;
    use diesel_async::RunQueryDsl as _;
    match QUERY.get().copied().unwrap_or_default() {
        Query::Cached => diesel::select(1.into_sql::<diesel::sql_types::Integer>())
            .get_result::<i32>(conn)
            .await
            .map(drop),
        Query::Sql => diesel::sql_query("SELECT 1").execute(conn).await.map(drop),
    }
}

/// What every actix variant's handler does with its connection.
async fn select_one(conn: &mut AsyncPgConnection) -> HttpResponse {
    match run_query(conn).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// A deadpool pool as a user would build it: diesel-async's manager, `RecyclingMethod::Fast`.
/// `connects` counts connection attempts (instrumentation only).
pub(crate) fn hand_written_pool(
    url: &str,
    size: usize,
    connects: Arc<AtomicU64>,
) -> Result<Pool<AsyncPgConnection>> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        connects.fetch_add(1, Ordering::Relaxed);
        let url = url.to_string();
        async move { crate::pg::establish(&url).await }.boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager).max_size(size).build()?)
}

macro_rules! run_server {
    ($opts:expr, $factory:expr) => {
        HttpServer::new($factory)
            .workers($opts.workers)
            .backlog(2048)
            .shutdown_timeout(2)
            .bind(("127.0.0.1", $opts.port))?
            .run()
            .await
    };
}

/// Runs an actix variant's server until SIGINT/SIGTERM (the axum ones:
/// [`server_axum::serve`](crate::server_axum::serve)).
pub fn serve(opts: ServeOptions) -> Result<()> {
    let _ = QUERY.set(opts.query);
    actix_web::rt::System::new().block_on(async move {
        match opts.variant {
            Variant::A => serve_a(&opts).await,
            Variant::B | Variant::C1 | Variant::C2 => serve_tenantpool(&opts).await,
            Variant::D => serve_d(&opts).await,
            Variant::E => serve_e(&opts).await,
            Variant::AX | Variant::BX | Variant::C1X => {
                fail("an axum variant: served by server_axum::serve")
            }
        }
    })
}

// ---- A: the hand-written single pool -------------------------------------------------------

struct SinglePool {
    pool: Pool<AsyncPgConnection>,
    connects: Arc<AtomicU64>,
    errors: ErrorLog,
}

async fn a_handler(state: web::Data<SinglePool>) -> HttpResponse {
    match state.pool.get().await {
        Ok(mut conn) => select_one(&mut conn).await,
        Err(e) => {
            state.errors.record(&e);
            HttpResponse::ServiceUnavailable().body(e.to_string())
        }
    }
}

async fn a_stats(state: web::Data<SinglePool>) -> HttpResponse {
    let status = state.pool.status();
    HttpResponse::Ok().json(ServerStats {
        pool: Some(PoolStatus {
            size: status.size,
            available: status.available,
            max_size: status.max_size,
        }),
        ..hand_written_stats(Variant::A, &state.connects, &state.errors)
    })
}

async fn serve_a(opts: &ServeOptions) -> Result<()> {
    let app = opts.variant.app_name();
    let connects = Arc::new(AtomicU64::new(0));
    // Built once, outside HttpServer::new: every worker shares it.
    let pool = hand_written_pool(
        &db_url(&opts.pg, &tenant_db(1), &app),
        opts.pool_size,
        connects.clone(),
    )?;
    let state = web::Data::new(SinglePool {
        pool,
        connects,
        errors: ErrorLog::default(),
    });
    run_server!(opts, move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(a_handler))
            .route("/_lb/health", web::get().to(health))
            .route("/_lb/stats", web::get().to(a_stats))
    })?;
    Ok(())
}

// ---- B, C1, C2: tenantpool -----------------------------------------------------------------

async fn tp_handler(mut conn: TenantConn<AsyncPgConnection>) -> HttpResponse {
    select_one(&mut conn).await
}

async fn tp_stats(
    registry: TenantRegistry<AsyncPgConnection>,
    variant: web::Data<Variant>,
) -> HttpResponse {
    let stats = registry.stats();
    HttpResponse::Ok().json(ServerStats {
        variant: **variant,
        connects: stats.counters.connections_created,
        errors: None,
        pool: None,
        naive: None,
        registry: Some(stats),
    })
}

async fn serve_tenantpool(opts: &ServeOptions) -> Result<()> {
    let app = opts.variant.app_name();
    // Defaults plus any `TENANTPOOL_*` environment overrides (e.g.
    // `TENANTPOOL_RUNTIME__IO_THREADS=2`), then the benchmark's own settings.
    let mut settings = Settings::load(None)?;
    settings.pool.max_size = opts.pool_size;
    settings.budget.max_connections = opts.budget;
    settings.budget.replicas = opts.replicas;
    if let Some(n) = opts.io_threads {
        settings.runtime.io_threads = n;
    }
    let directory = match opts.variant {
        Variant::C1 => TemplateDirectory::schema(&db_url(&opts.pg, SCHEMA_DB, &app), "{tenant}")?,
        _ => TemplateDirectory::database(&db_url(&opts.pg, "lb_{tenant}", &app))?,
    };
    // The tenants are known (as in production, where a directory lists its tenants): the
    // registry answers other keys with 404 without a lookup, and cold starts of listed
    // tenants are not rate-limited.
    let known = (1..=opts.tenants)
        .map(|k| TenantId::parse(&tenant_key(k)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let directory = directory.allow(known);
    // The recorder goes in before the registry is built (its pools register their histograms).
    let admin = metrics_admin(opts)?;
    // Built once, outside HttpServer::new: every worker shares it.
    let registry = Registry::<AsyncPgConnection>::builder(settings)
        .directory(directory)
        .build()?;
    let admin = admin.map(|a| a.registry("lb", registry.clone()));
    let resolver = Resolver::builder()
        .subdomain_of(&opts.domain)
        .exempt("/_lb")
        .build()?;
    let variant = opts.variant;
    let app_registry = registry.clone();
    run_server!(opts, move || {
        let app = App::new()
            .app_data(TenantRegistry::<AsyncPgConnection>::new(
                app_registry.clone(),
            ))
            .app_data(web::Data::new(variant))
            .wrap(ResolveTenant::new(resolver.clone()))
            .route("/", web::get().to(tp_handler))
            .route("/_lb/health", web::get().to(health))
            .route("/_lb/stats", web::get().to(tp_stats));
        match &admin {
            Some(admin) => app.service(admin.scope()),
            None => app,
        }
    })?;
    registry.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// Under `--metrics on`, the admin scope at `/_lb/admin` with the Prometheus recorder
/// installed (the stats endpoint and `/metrics`), as an application mounts it.
fn metrics_admin(opts: &ServeOptions) -> Result<Option<Admin>> {
    if !opts.metrics {
        return Ok(None);
    }
    let admin = Admin::new("/_lb/admin", METRICS_TOKEN)?;
    #[cfg(feature = "metrics")]
    let admin = admin.metrics(tenantpool::actix::admin::AdminMetrics::install()?);
    Ok(Some(admin))
}

// ---- D: a new connection per request -------------------------------------------------------

struct Direct {
    url: String,
    connects: AtomicU64,
    errors: ErrorLog,
}

async fn d_handler(state: web::Data<Direct>) -> HttpResponse {
    state.connects.fetch_add(1, Ordering::Relaxed);
    match crate::pg::establish(&state.url).await {
        Ok(mut conn) => select_one(&mut conn).await,
        Err(e) => {
            state.errors.record(&e);
            HttpResponse::InternalServerError().body(e.to_string())
        }
    }
}

async fn d_stats(state: web::Data<Direct>) -> HttpResponse {
    HttpResponse::Ok().json(hand_written_stats(
        Variant::D,
        &state.connects,
        &state.errors,
    ))
}

async fn serve_d(opts: &ServeOptions) -> Result<()> {
    let state = web::Data::new(Direct {
        url: db_url(&opts.pg, &tenant_db(1), &opts.variant.app_name()),
        connects: AtomicU64::new(0),
        errors: ErrorLog::default(),
    });
    run_server!(opts, move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(d_handler))
            .route("/_lb/health", web::get().to(health))
            .route("/_lb/stats", web::get().to(d_stats))
    })?;
    Ok(())
}

// ---- E: a naive HashMap<tenant, Pool> ------------------------------------------------------

struct Naive {
    pg: String,
    app: String,
    pool_size: usize,
    pools: Mutex<HashMap<String, Pool<AsyncPgConnection>>>,
    connects: Arc<AtomicU64>,
    errors: ErrorLog,
}

impl Naive {
    /// The tenant's pool, built on first use and kept forever.
    fn pool(&self, tenant: &str) -> Result<Pool<AsyncPgConnection>> {
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pool) = pools.get(tenant) {
            return Ok(pool.clone());
        }
        let url = db_url(&self.pg, &format!("lb_{tenant}"), &self.app);
        let pool = hand_written_pool(&url, self.pool_size, self.connects.clone())?;
        pools.insert(tenant.to_string(), pool.clone());
        Ok(pool)
    }
}

async fn e_handler(req: HttpRequest, state: web::Data<Naive>) -> HttpResponse {
    let tenant = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split('.').next())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    let Some(tenant) = tenant else {
        return HttpResponse::BadRequest().body("no tenant in the Host header");
    };
    let pool = match state.pool(tenant) {
        Ok(pool) => pool,
        Err(e) => {
            state.errors.record(&e);
            return HttpResponse::InternalServerError().body(e.to_string());
        }
    };
    match pool.get().await {
        Ok(mut conn) => select_one(&mut conn).await,
        Err(e) => {
            state.errors.record(&e);
            HttpResponse::InternalServerError().body(e.to_string())
        }
    }
}

async fn e_stats(state: web::Data<Naive>) -> HttpResponse {
    let (pools, open) = {
        let pools = state
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let open: usize = pools.values().map(|p| p.status().size).sum();
        (pools.len(), open)
    };
    HttpResponse::Ok().json(ServerStats {
        naive: Some(NaivePools { pools, open }),
        ..hand_written_stats(Variant::E, &state.connects, &state.errors)
    })
}

async fn serve_e(opts: &ServeOptions) -> Result<()> {
    let state = web::Data::new(Naive {
        pg: opts.pg.clone(),
        app: opts.variant.app_name(),
        pool_size: opts.naive_pool_size,
        pools: Mutex::new(HashMap::new()),
        connects: Arc::new(AtomicU64::new(0)),
        errors: ErrorLog::default(),
    });
    run_server!(opts, move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(e_handler))
            .route("/_lb/health", web::get().to(health))
            .route("/_lb/stats", web::get().to(e_stats))
    })?;
    Ok(())
}
