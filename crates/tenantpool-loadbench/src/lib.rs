//! Load, cold-start and memory benchmarks of tenantpool, side by side with the designs a user
//! would otherwise write by hand. Run them with `scripts/loadbench` (see docs/benchmarks.md).
//!
//! - [`variant`]: the designs under test (A: a hand-written single deadpool pool; B:
//!   tenantpool with one tenant; C1/C2: tenantpool with 1,000 tenants, schema or database per
//!   tenant; D: a new connection per request; E: a `HashMap` of pools), and [`query`], what
//!   each request runs.
//! - [`server`]: the HTTP servers under test, one per variant; [`stats`]: what their
//!   `GET /_lb/stats` answers.
//! - [`sampler`]: counts the connections tagged with a variant's `application_name` on the
//!   server, through tenantpool's test kit; [`pg`]: the driver's own connections.
//! - [`wrk`]: runs wrk with the Zipf Lua script and reads its summary.
//! - [`memory`]: what the memory binary measures; [`result_line`]: the line on which wrk's
//!   script and the memory binary print their results.
//! - [`driver`]: runs every variant in one invocation, the cold-start experiment and the
//!   memory binary, then writes the results table.

pub mod args;
pub mod client;
pub mod driver;
pub mod memory;
pub mod pg;
pub mod profile;
pub mod query;
pub mod result_line;
pub mod sampler;
pub mod server;
pub mod server_axum;
pub mod stats;
pub mod variant;
pub mod wrk;

/// Any error, with a message meant for the person running the benchmark.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A result whose error is reported to the person running the benchmark.
pub type Result<T> = std::result::Result<T, BoxError>;

/// Builds an error from a message.
pub fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(message.into().into())
}

/// The database of tenant `k` in database-per-tenant mode.
pub fn tenant_db(k: usize) -> String {
    format!("lb_t{k}")
}

/// The database holding one schema per tenant (schemas `t1` .. `tN`).
pub const SCHEMA_DB: &str = "lb_schemas";

/// The tenant key of tenant `k` (`t1` .. `tN`), also its schema name in schema mode.
pub fn tenant_key(k: usize) -> String {
    format!("t{k}")
}

/// A PostgreSQL URL for `db` on the server `pg` (`postgres://user@host:port`), tagging its
/// connections with `application_name = app`.
pub fn db_url(pg: &str, db: &str, app: &str) -> String {
    // The same transport for every variant, set once per process (`--sslmode`): tenantpool's
    // default (`prefer`) would otherwise encrypt B and C while the hand-written variants, on
    // tokio-postgres's `NoTls`, would not.
    format!(
        "{}/{db}?application_name={app}&sslmode={}",
        pg.trim_end_matches('/'),
        sslmode()
    )
}

/// The transport of this process's database connections: `disable` (the default) or
/// `require` (TLS, certificate unchecked, as libpq).
static SSLMODE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Sets the transport from `--sslmode` (once per process).
pub fn set_sslmode(mode: Option<&str>) -> Result<()> {
    let mode = match mode.unwrap_or("disable") {
        "disable" => "disable",
        "require" => "require",
        other => return fail(format!("--sslmode {other:?}: expected disable or require")),
    };
    let _ = SSLMODE.set(mode);
    Ok(())
}

/// This process's `sslmode`.
pub fn sslmode() -> &'static str {
    SSLMODE.get().copied().unwrap_or("disable")
}
