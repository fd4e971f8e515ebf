//! Secrets: database URLs carry passwords (PostgreSQL's trust authentication accepts any; a
//! MariaDB account is created with one), and the password must never appear in a log line
//! (every event of every crate at TRACE level, `log` records included, and every span field,
//! tracing-actix-web's root spans included), an error body, a `Debug` output or the admin
//! stats response.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel_async::AsyncMysqlConnection;
use tenantpool::actix::admin::Admin;
use tenantpool::actix::resolve::Resolver;
use tenantpool::actix::{
    GracefulShutdown, QueryError, ResolveTenant, TenantConn, TenantError, TenantRegistry,
    TenantRootSpan,
};
use tenantpool::{DatabaseUrl, Registry, Settings, StaticDirectory, TenantId, TenantTarget};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_actix_web::TracingLogger;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::app::{Pg, Value};
use tenantpool_testkit::{refused_port, Error, MySqlServer, PgServer, TestServer};

use crate::support::{self, client, get};

/// PostgreSQL's password, with characters that URLs must percent-encode.
const PG_PASSWORD: &str = "Tpr:pg@S3cret/9%x";
/// The same, percent-encoded as it is written in the URL.
const PG_PASSWORD_ENCODED: &str = "Tpr%3Apg%40S3cret%2F9%25x";
/// The MariaDB account's password.
const MY_PASSWORD: &str = "TprMy-S3cret-5b1";
/// A wrong MariaDB password (a refused login must not echo it either).
const MY_WRONG_PASSWORD: &str = "TprWrong-7e2c-Pw";
const ADMIN_TOKEN: &str = "tpr-admin-token-0123456789";

fn secrets() -> [&'static str; 4] {
    [
        PG_PASSWORD,
        PG_PASSWORD_ENCODED,
        MY_PASSWORD,
        MY_WRONG_PASSWORD,
    ]
}

// ---------------------------------------------------------------------------------------
// Capturing every event and span field
// ---------------------------------------------------------------------------------------

static CAPTURING: AtomicBool = AtomicBool::new(false);
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static EVENTS: AtomicU64 = AtomicU64::new(0);
static SPANS: AtomicU64 = AtomicU64::new(0);

/// Installs (once, for the whole process) a subscriber that records every event and span
/// of every crate at every level, and every `log` record, while capturing is on.
fn install_capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::registry()
            .with(Capture)
            .try_init()
            .expect("the reliability suite installs the only global subscriber");
    });
}

struct Capture;

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={value} ({value:?})", field.name());
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(self.0, " caused by: {s} ({s:?})");
            source = s.source();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

fn push(line: String) {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

impl<S: Subscriber> Layer<S> for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>, _: Context<'_, S>) -> bool {
        CAPTURING.load(Ordering::Relaxed)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        SPANS.fetch_add(1, Ordering::Relaxed);
        let mut line = format!(
            "span {:?} {} {}",
            id,
            attrs.metadata().target(),
            attrs.metadata().name()
        );
        attrs.record(&mut Fields(&mut line));
        push(line);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut line = format!("record {id:?}");
        values.record(&mut Fields(&mut line));
        push(line);
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        EVENTS.fetch_add(1, Ordering::Relaxed);
        let m = event.metadata();
        let mut line = format!("event {} {}", m.level(), m.target());
        event.record(&mut Fields(&mut line));
        push(line);
    }
}

/// Every place a secret appears in `text`.
fn leaks(text: &str) -> Vec<&'static str> {
    secrets().into_iter().filter(|s| text.contains(s)).collect()
}

// ---------------------------------------------------------------------------------------
// The app: a PostgreSQL and a MariaDB registry side by side
// ---------------------------------------------------------------------------------------

async fn pg_q(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    use diesel_async::RunQueryDsl; // local: its blanket `load` shadows the atomics'
    let row = diesel::sql_query("SELECT current_database()::text AS value")
        .get_result::<Value>(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().body(format!("{} {conn:?}", row.value)))
}

async fn pg_fail(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    use diesel_async::RunQueryDsl; // local: its blanket `load` shadows the atomics'
    diesel::sql_query("SELECT * FROM tpr_no_such_table")
        .execute(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().finish())
}

#[derive(diesel::QueryableByName)]
struct MyValue {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn my_q(mut conn: TenantConn<AsyncMysqlConnection>) -> Result<HttpResponse, QueryError> {
    use diesel_async::RunQueryDsl; // local: its blanket `load` shadows the atomics'
    let row = diesel::sql_query("SELECT DATABASE() AS value")
        .get_result::<MyValue>(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().body(format!("{} {conn:?}", row.value)))
}

async fn my_fail(mut conn: TenantConn<AsyncMysqlConnection>) -> Result<HttpResponse, QueryError> {
    use diesel_async::RunQueryDsl; // local: its blanket `load` shadows the atomics'
    diesel::sql_query("SELECT * FROM tpr_no_such_table")
        .execute(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().finish())
}

fn settings() -> Settings {
    let mut s = Settings::default();
    s.budget.max_connections = 4;
    s.pool.max_size = 2;
    s.pool.connect_timeout = Duration::from_secs(2);
    s.pool.checkout_timeout = Duration::from_secs(3);
    s
}

fn url(raw: &str) -> DatabaseUrl {
    DatabaseUrl::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

#[actix_web::test]
async fn no_password_in_logs_error_bodies_debug_output_or_stats() -> Result<(), Error> {
    let _heavy = support::heavy().await;
    let Some(pg_admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let Some(my_admin) = MySqlServer::from_env().await else {
        return Ok(());
    };
    install_capture();

    let app_name = pg_admin.tag("tpr_secrets").await?;
    let pg_db = pg_admin.throwaway_database("tpr_secret_pg").await?;
    let pg_db = pg_db.name();
    let my_user = my_admin
        .tag_with_password("tpr_secret_user", MY_PASSWORD)
        .await?;
    let my_db = my_admin.throwaway_database("tpr_secret_my").await?;
    let my_db = my_db.name();

    let pg_server = pg_admin.base_url();
    let pg_hostport = pg_server
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_string();
    let pg = |db: &str, hostport: &str| {
        url(&format!(
            "postgres://postgres:{PG_PASSWORD_ENCODED}@{hostport}/{db}?application_name={app_name}"
        ))
    };
    let refused = format!("127.0.0.1:{}", refused_port()?);
    let pg_dir = StaticDirectory::new()
        .with(
            TenantId::parse("pg").expect("key"),
            TenantTarget::database(pg(pg_db, &pg_hostport)),
        )
        .with(
            TenantId::parse("pgmissing").expect("key"),
            TenantTarget::database(pg("tpr_secret_no_such_db", &pg_hostport)),
        )
        .with(
            TenantId::parse("pgdown").expect("key"),
            TenantTarget::database(pg("x", &refused)),
        );
    let my = |user: &str, password: &str, db: &str| {
        url(&my_admin
            .url(db, user)
            .replacen('@', &format!(":{password}@"), 1))
    };
    let my_dir = StaticDirectory::new()
        .with(
            TenantId::parse("my").expect("key"),
            TenantTarget::database(my(&my_user, MY_PASSWORD, my_db)),
        )
        .with(
            TenantId::parse("mydenied").expect("key"),
            TenantTarget::database(my(&my_user, MY_WRONG_PASSWORD, my_db)),
        )
        .with(
            TenantId::parse("mymissing").expect("key"),
            TenantTarget::database(my(&my_user, MY_PASSWORD, "tpr_secret_no_such_db")),
        );
    let mut debug_outputs = vec![format!("{pg_dir:?}"), format!("{my_dir:?}")];

    CAPTURING.store(true, Ordering::SeqCst);
    let pg_registry = Registry::<Pg>::builder(settings())
        .directory(pg_dir)
        .build()
        .expect("registry");
    let my_registry = Registry::<AsyncMysqlConnection>::builder(settings())
        .directory(my_dir)
        .build()
        .expect("registry");
    let admin = Admin::new("/_tenantpool", ADMIN_TOKEN)
        .expect("admin")
        .registry("pg", pg_registry.clone())
        .registry("my", my_registry.clone());
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/_tenantpool")
        .build()
        .expect("resolver");
    let (p, m) = (pg_registry.clone(), my_registry.clone());
    let (addr, handle, server) = serve!(
        move || {
            App::new()
                .app_data(TenantRegistry::new(p.clone()))
                .app_data(TenantRegistry::new(m.clone()))
                .wrap(ResolveTenant::new(resolver.clone()))
                .wrap(TracingLogger::<TenantRootSpan>::new())
                .service(admin.scope())
                .route("/pg/q", web::get().to(pg_q))
                .route("/pg/fail", web::get().to(pg_fail))
                .route("/my/q", web::get().to(my_q))
                .route("/my/fail", web::get().to(my_fail))
        },
        1
    );
    let served = actix_web::rt::spawn(
        GracefulShutdown::new(Duration::from_secs(5))
            .registry(pg_registry.clone())
            .registry(my_registry.clone())
            .run(server),
    );

    // Every outcome: success, query error, unknown tenant, missing database, refused
    // server, refused login; each twice (a start, then the negative cache or the pool).
    let http = client(Duration::from_secs(30));
    let mut bodies = Vec::new();
    let calls: &[(&str, &str, u16)] = &[
        ("/pg/q", "pg", 200),
        ("/pg/fail", "pg", 500),
        ("/pg/q", "pgmissing", 404),
        ("/pg/q", "pgdown", 503),
        ("/pg/q", "nobody", 404),
        ("/my/q", "my", 200),
        ("/my/fail", "my", 500),
        ("/my/q", "mymissing", 404),
        ("/my/q", "mydenied", 503),
        ("/my/q", "nobody", 404),
        ("/pg/q", "bad.key", 400),
    ];
    for round in 0..2 {
        for (path, tenant, want) in calls {
            let a = get(&http, addr, path, ("X-Tenant-Id", tenant)).await;
            assert_eq!(a.status, *want, "round {round}: {path} for {tenant}: {a:?}");
            bodies.push(format!(
                "{path} {tenant}: {} {:?} {}",
                a.status, a.retry_after, a.body
            ));
        }
    }
    // The admin scope: refused without the token, stats with it.
    let denied = get(
        &http,
        addr,
        "/_tenantpool/stats",
        ("Authorization", "Bearer wrong-token-000000"),
    )
    .await;
    assert_eq!(denied.status, 401);
    let stats = get(
        &http,
        addr,
        "/_tenantpool/stats",
        ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
    )
    .await;
    assert_eq!(stats.status, 200, "{stats:?}");
    assert!(
        stats.body.contains("\"pg\"") && stats.body.contains("\"my\""),
        "{}",
        stats.body
    );
    assert!(
        stats.body.contains("postgres://postgres:***@"),
        "the stats show masked URLs: {}",
        stats.body
    );
    bodies.push(denied.body);
    bodies.push(stats.body.clone());

    // Debug and Display of everything a program might print.
    debug_outputs.push(format!(
        "{pg_registry:?} {:?} {:?}",
        pg_registry.stats(),
        pg_registry.settings()
    ));
    debug_outputs.push(serde_json::to_string(&pg_registry.stats()).expect("stats json"));
    debug_outputs.push(format!(
        "{my_registry:?} {:?} {:?}",
        my_registry.stats(),
        my_registry.settings()
    ));
    for key in ["pg", "pgmissing", "pgdown", "nobody"] {
        match pg_registry.get(&TenantId::parse(key).expect("key")).await {
            Ok(conn) => debug_outputs.push(format!("{conn:?}")),
            Err(e) => {
                let te = TenantError::from(e.clone());
                debug_outputs.push(format!("{e} {e:?} {te} {te:?}"));
            }
        }
    }
    for key in ["my", "mymissing", "mydenied"] {
        match my_registry.get(&TenantId::parse(key).expect("key")).await {
            Ok(conn) => debug_outputs.push(format!("{conn:?}")),
            Err(e) => debug_outputs.push(format!("{e} {e:?}")),
        }
    }
    debug_outputs.push(format!("{:?}", TenantRegistry::new(pg_registry.clone())));

    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    CAPTURING.store(false, Ordering::SeqCst);

    let lines = std::mem::take(&mut *LINES.lock().unwrap_or_else(|e| e.into_inner()));
    let events = EVENTS.load(Ordering::Relaxed);
    let spans = SPANS.load(Ordering::Relaxed);
    // The capture saw what it had to: the core's events, the drivers' log records, the
    // adapter's refusals and the root spans with their fields.
    let seen = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        seen("tenant started"),
        "the core's events were not captured"
    );
    assert!(
        seen("http.method"),
        "tracing-actix-web's root spans were not captured"
    );
    assert!(
        seen("tenant=pg"),
        "the root span's tenant field was not captured"
    );
    assert!(
        seen("database connection lost") || seen("query failed"),
        "the adapter's query errors were not captured"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tokio_postgres") || l.contains("mysql_async")),
        "no driver log record was captured"
    );

    let mut found = Vec::new();
    for l in &lines {
        if !leaks(l).is_empty() {
            found.push(format!("log line: {l}"));
        }
    }
    for b in &bodies {
        if !leaks(b).is_empty() {
            found.push(format!("error body: {b}"));
        }
    }
    for d in &debug_outputs {
        if !leaks(d).is_empty() {
            found.push(format!("Debug output: {d}"));
        }
    }
    eprintln!(
        "FIGURES secrets: log_lines={} events={events} spans={spans} bodies={} debug_outputs={} leaks={}",
        lines.len(),
        bodies.len(),
        debug_outputs.len(),
        found.len()
    );
    assert!(
        found.is_empty(),
        "a password was printed:\n{}",
        found.join("\n")
    );
    let (left, _) = pg_admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    assert_eq!(left, 0);
    Ok(())
}

#[test]
fn configuration_with_a_password_never_prints_it() {
    let toml = format!(
        r#"
        [directory.template]
        url = "postgres://app:{PG_PASSWORD_ENCODED}@db.internal:5432/tenant_{{tenant}}"
        [directory.tenants.acme]
        url = "mysql://app:{MY_PASSWORD}@db.internal:3306/acme"
        "#
    );
    let settings = Settings::from_toml_str(&toml).expect("settings");
    settings.directory.build().expect("the directory builds");
    let template = tenantpool::TemplateDirectory::database(&format!(
        "postgres://app:{PG_PASSWORD_ENCODED}@db.internal:5432/tenant_{{tenant}}"
    ))
    .expect("template");
    let outputs = [
        ("Settings (Debug)", format!("{settings:?}")),
        (
            "Settings (JSON)",
            serde_json::to_string(&settings).expect("json"),
        ),
        (
            "DirectoryConfig (Debug)",
            format!("{:?}", settings.directory),
        ),
        ("TemplateDirectory (Debug)", format!("{template:?}")),
    ];
    let printed: Vec<String> = outputs
        .iter()
        .filter(|(_, text)| !leaks(text).is_empty())
        .map(|(what, text)| format!("{what}: {text}"))
        .collect();
    assert!(
        printed.is_empty(),
        "a password was printed:\n{}",
        printed.join("\n")
    );
}
