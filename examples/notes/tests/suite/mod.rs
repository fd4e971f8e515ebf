//! The notes end-to-end suite, written once and run against each server binary: the actix
//! one (`tenantpool-notes`, tests/notes.rs here) and the axum one (`tenantpool-notes-axum`,
//! its tests/notes.rs includes this file). Each test starts the binary with a configuration
//! file of `config/` and `NOTES_*` overrides, drives it over HTTP, stops it with SIGINT and
//! expects a clean exit (every pool closed, no connection in use at the deadline).
//!
//! [`notes_suite!`] generates the tests for one binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use tenantpool::catalog::{Catalog, NewTenant, Placement};
use tenantpool::{DatabaseUrl, TenantId};
use tenantpool_testkit::{unique, Error, MySqlServer, PgServer, TestServer};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A notes binary running with a configuration file and overrides.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
}

impl Running {
    /// Starts `bin` in `dir` with `file` (relative to the workspace) and `overrides`
    /// (`("directory.template.url", ...)` becomes `NOTES_DIRECTORY__TEMPLATE__URL`), on a free
    /// port; returns once it prints its address.
    pub fn start(bin: &str, dir: &Path, file: &str, overrides: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut command = Command::new(bin);
        command
            .arg("--config")
            .arg(workspace().join(file))
            .current_dir(dir)
            .env("NOTES_SERVER__BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        for (key, value) in overrides {
            let var = format!("NOTES_{}", key.replace('.', "__").to_ascii_uppercase());
            command.env(var, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{bin}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr: SocketAddr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{bin}: no address in {line:?}"));
        Self { child, addr }
    }

    /// Stops the server with SIGINT and expects a clean exit: in-flight requests finished,
    /// every pool closed, no connection in use at the deadline.
    pub fn stop(mut self) {
        let stopped = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(stopped.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown failed: {status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave the server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// Sends a request with a `Host` header; returns status and JSON body (`Null` when empty).
async fn call(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("http://{addr}{path}");
    let req = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        "DELETE" => client().delete(url),
        other => panic!("{other}"),
    }
    .insert_header(("Host", host));
    let mut resp = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let bytes = resp.body().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (resp.status().as_u16(), value)
}

/// POST/GET/DELETE for two tenants, and neither sees the other's notes.
async fn exercise(addr: SocketAddr, acme: &str, globex: &str) {
    let (status, body) = call(addr, "GET", "localhost", "/healthz", None).await;
    assert_eq!((status, body), (200, Value::String("ok".into())));

    let (status, a1) = call(
        addr,
        "POST",
        acme,
        "/notes",
        Some(json!({"text": "acme one"})),
    )
    .await;
    assert_eq!(status, 201, "{a1}");
    let (status, _) = call(
        addr,
        "POST",
        acme,
        "/notes",
        Some(json!({"text": "acme two"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, g1) = call(
        addr,
        "POST",
        globex,
        "/notes",
        Some(json!({"text": "globex one"})),
    )
    .await;
    assert_eq!(status, 201, "{g1}");

    let (status, list) = call(addr, "GET", acme, "/notes", None).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["acme one", "acme two"]);
    let (_, list) = call(addr, "GET", globex, "/notes", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["text"], "globex one");

    let a1_path = format!("/notes/{}", a1["id"]);
    let (status, note) = call(addr, "GET", acme, &a1_path, None).await;
    assert_eq!((status, note["text"].as_str()), (200, Some("acme one")));
    // globex's note of the same id, if any, is globex's own, never acme's.
    let (status, note) = call(addr, "GET", globex, &a1_path, None).await;
    if status == 200 {
        assert_eq!(note["text"], "globex one");
    } else {
        assert_eq!(status, 404);
    }

    let (status, _) = call(addr, "DELETE", acme, &a1_path, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(addr, "GET", acme, &a1_path, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["tenant"], "acme");
    let (status, _) = call(addr, "DELETE", acme, &a1_path, None).await;
    assert_eq!(status, 404);
    let (_, list) = call(addr, "GET", globex, "/notes", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "deleting acme's note touched globex"
    );

    let (status, body) = call(addr, "POST", acme, "/notes", Some(json!({"text": "  "}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(addr, "POST", acme, "/notes", Some(json!({"txt": "x"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid JSON body"));

    let (status, body) = call(addr, "GET", "initech.localhost", "/notes", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["tenant"], "initech");
    let (status, _) = call(addr, "GET", "localhost", "/notes", None).await;
    assert_eq!(status, 400);

    // The database server has just served: ready, reported without a tenant.
    let (status, ready) = call(addr, "GET", "localhost", "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["ready"], true);
    assert_eq!(
        ready["servers"].as_array().map(Vec::len),
        Some(1),
        "{ready}"
    );
}

/// The default configuration (SQLite) in a fresh directory: two tenants, every resolution
/// source of the file, a file per tenant and none for an unknown one.
pub async fn serves_two_tenants_on_sqlite_with_the_default_config(bin: &str) {
    let dir = std::env::temp_dir().join(unique("tpa_notes_bin"));
    let server = Running::start(bin, &dir, "config/default.toml", &[]);
    let addr = server.addr;
    exercise(addr, "acme.localhost", "Globex.localhost.").await;
    // The other resolution sources of the default config reach the same tenant.
    let (status, list) = call(addr, "GET", "localhost", "/t/globex/notes", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));

    assert!(dir.join("data/acme.db").exists() && dir.join("data/globex.db").exists());
    assert!(
        !dir.join("data/initech.db").exists(),
        "an unknown tenant must not get a file"
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The admin section turned on from the environment, metrics included: the Prometheus
/// endpoint refuses a scrape without the token, and between two scrapes it counts exactly the
/// requests served (one checkout, one wait and one held time each).
pub async fn the_admin_metrics_endpoint_counts_the_requests_served(bin: &str) {
    const TOKEN: &str = "notes-suite-admin-token";
    let dir = std::env::temp_dir().join(unique("tpa_notes_metrics"));
    let server = Running::start(
        bin,
        &dir,
        "config/default.toml",
        &[
            ("admin.enabled", "true"),
            ("admin.token", TOKEN),
            ("admin.metrics", "true"),
        ],
    );
    let addr = server.addr;
    let (status, _) = call(addr, "GET", "localhost", "/_tenantpool/metrics", None).await;
    assert_eq!(status, 401, "a scrape without the token");
    // The tenant's start (migrations included) happens before the first scrape.
    let (status, _) = call(addr, "GET", "acme.localhost", "/notes", None).await;
    assert_eq!(status, 200);
    let before = scrape(addr, TOKEN).await;
    for _ in 0..5 {
        let (status, _) = call(addr, "GET", "acme.localhost", "/notes", None).await;
        assert_eq!(status, 200);
    }
    let after = scrape(addr, TOKEN).await;
    for name in [
        "tenantpool_checkouts_total",
        "tenantpool_checkout_wait_seconds_count",
        "tenantpool_connection_held_seconds_count",
    ] {
        assert_eq!(
            sample(&after, name) - sample(&before, name),
            5.0,
            "{name} between the scrapes:\n{after}"
        );
    }
    assert_eq!(sample(&after, "tenantpool_cached_tenants"), 1.0, "{after}");
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /_tenantpool/metrics` with the bearer token: the Prometheus text.
async fn scrape(addr: SocketAddr, token: &str) -> String {
    let mut resp = client()
        .get(format!("http://{addr}/_tenantpool/metrics"))
        .insert_header(("Host", "localhost"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("scrape: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "scrape with the token");
    let body = resp.body().await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The sum of the samples of `name` (every label set) in a Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The first requests of two cold tenants, all at once: each tenant's migrations run once,
/// and no request sees a tenant without its table.
pub async fn concurrent_first_requests_migrate_a_tenant_once(bin: &str) {
    let dir = std::env::temp_dir().join(unique("tpa_notes_lib"));
    let url = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let server = Running::start(
        bin,
        &dir,
        "config/default.toml",
        &[("directory.template.url", &url)],
    );
    let addr = server.addr;
    let first = (0..16).map(|i| async move {
        let host = if i % 2 == 0 {
            "acme.localhost"
        } else {
            "globex.localhost"
        };
        call(
            addr,
            "POST",
            host,
            "/notes",
            Some(json!({"text": format!("n{i}")})),
        )
        .await
        .0
    });
    assert_eq!(join_all(first).await, vec![201; 16]);
    for (host, parity) in [("acme.localhost", 0), ("globex.localhost", 1)] {
        let (_, list) = call(addr, "GET", host, "/notes", None).await;
        let texts: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["text"].as_str().unwrap()[1..].parse().unwrap())
            .collect();
        assert_eq!(texts.len(), 8, "{host}: {texts:?}");
        assert!(texts.iter().all(|i| i % 2 == parity), "{host}: {texts:?}");
    }
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves the configuration `file`, its directory's template URL replaced by `url`, a
/// budget of 6 and `overrides`, and exercises it with two tenants.
async fn serve_config(bin: &str, file: &str, url: &str, overrides: &[(&str, &str)]) {
    let dir = std::env::temp_dir().join(unique("tpa_notes_srv"));
    let mut all = vec![
        ("directory.template.url", url),
        ("budget.max_connections", "6"),
    ];
    all.extend_from_slice(overrides);
    let server = Running::start(bin, &dir, file, &all);
    exercise(server.addr, "acme.localhost", "globex.localhost").await;
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A catalog in `control` with the placement `main` and the tenants acme and globex, as an
/// operator makes it with `tenantpool catalog install` and `tenantpool tenants create`.
async fn catalog_with_two_tenants(control: &str, main: Placement) {
    let catalog =
        Catalog::new(DatabaseUrl::parse(control).expect("control URL")).placement("main", main);
    catalog.install().await.expect("catalog install");
    for key in ["acme", "globex"] {
        let tenant = TenantId::parse(key).expect("key");
        catalog
            .create(&tenant, NewTenant::in_placement("main"))
            .await
            .expect("tenants create");
    }
}

/// Serves the catalog configuration `file` with its catalog in `control` and its placement
/// `main` at `url`, a budget of 6 and `overrides`, and exercises it with two tenants.
async fn serve_catalog_config(
    bin: &str,
    file: &str,
    control: &str,
    url: &str,
    overrides: &[(&str, &str)],
) {
    let dir = std::env::temp_dir().join(unique("tpa_notes_srv"));
    let mut all = vec![
        ("directory.catalog.url", control),
        ("directory.catalog.placements.main.url", url),
        ("budget.max_connections", "6"),
    ];
    all.extend_from_slice(overrides);
    let server = Running::start(bin, &dir, file, &all);
    exercise(server.addr, "acme.localhost", "globex.localhost").await;
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// config/postgres.toml: a database per tenant, tenants from the catalog.
pub async fn the_postgres_config_serves_a_database_per_tenant(bin: &str) -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    // The family's databases (the catalog's and the tenants') are made by the catalog.
    let dbs = server.throwaway_databases("tpa_notes_pgdb", &[]).await?;
    let control = format!("{}/{}", server.base_url(), dbs.name("catalog"));
    let url = format!("{}/{}", server.base_url(), dbs.name("{tenant}"));
    catalog_with_two_tenants(&control, Placement::database(&url).expect("placement")).await;
    serve_catalog_config(bin, "config/postgres.toml", &control, &url, &[]).await;
    dbs.remove().await
}

/// config/postgres-schema.toml: a schema per tenant in one database, tenants (and the
/// catalog) in it.
pub async fn the_postgres_schema_config_serves_a_schema_per_tenant(bin: &str) -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let db = server.throwaway_database("tpa_notes_pgschema").await?;
    let url = format!("{}/{}", server.base_url(), db.name());
    catalog_with_two_tenants(
        &url,
        Placement::schema(&url, "{tenant}").expect("placement"),
    )
    .await;
    serve_catalog_config(
        bin,
        "config/postgres-schema.toml",
        &url,
        &url,
        &[("pool.max_size", "4")],
    )
    .await;
    db.remove().await
}

/// config/mysql.toml: a database per tenant on MariaDB.
pub async fn the_mysql_config_serves_a_database_per_tenant(bin: &str) -> Result<(), Error> {
    let Some(server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let dbs = server
        .throwaway_databases("tpa_notes_my", &["acme", "globex"])
        .await?;
    let url = format!("{}/{}", server.base_url(), dbs.name("{tenant}"));
    serve_config(bin, "config/mysql.toml", &url, &[]).await;
    dbs.remove().await
}

/// The suite's tests for the binary at `$bin`.
macro_rules! notes_suite {
    ($bin:expr) => {
        #[actix_web::test]
        async fn serves_two_tenants_on_sqlite_with_the_default_config() {
            suite::serves_two_tenants_on_sqlite_with_the_default_config($bin).await
        }

        #[actix_web::test]
        async fn the_admin_metrics_endpoint_counts_the_requests_served() {
            suite::the_admin_metrics_endpoint_counts_the_requests_served($bin).await
        }

        #[actix_web::test]
        async fn concurrent_first_requests_migrate_a_tenant_once() {
            suite::concurrent_first_requests_migrate_a_tenant_once($bin).await
        }

        #[actix_web::test]
        async fn the_postgres_config_serves_a_database_per_tenant(
        ) -> Result<(), tenantpool_testkit::Error> {
            suite::the_postgres_config_serves_a_database_per_tenant($bin).await
        }

        #[actix_web::test]
        async fn the_postgres_schema_config_serves_a_schema_per_tenant(
        ) -> Result<(), tenantpool_testkit::Error> {
            suite::the_postgres_schema_config_serves_a_schema_per_tenant($bin).await
        }

        #[actix_web::test]
        async fn the_mysql_config_serves_a_database_per_tenant(
        ) -> Result<(), tenantpool_testkit::Error> {
            suite::the_mysql_config_serves_a_database_per_tenant($bin).await
        }
    };
}
pub(crate) use notes_suite;
