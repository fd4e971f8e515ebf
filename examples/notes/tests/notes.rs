//! The notes example end to end: the binary with its default configuration on SQLite, and
//! the library against PostgreSQL (database and schema per tenant) and MariaDB.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use tenantpool_testkit::{unique, Error, MySqlServer, PgServer, TestServer};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
}

#[actix_web::test]
async fn the_binary_serves_two_tenants_on_sqlite_with_its_default_config() {
    let dir = std::env::temp_dir().join(unique("tpa_notes_bin"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantpool-notes"))
        .arg("--config")
        .arg(workspace().join("config/default.toml"))
        .current_dir(&dir)
        .env("NOTES_SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    exercise(addr, "acme.localhost", "Globex.localhost.").await;
    // The other resolution sources of the default config reach the same tenant.
    let (status, list) = call(addr, "GET", "localhost", "/t/globex/notes", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));

    assert!(dir.join("data/acme.db").exists() && dir.join("data/globex.db").exists());
    assert!(
        !dir.join("data/initech.db").exists(),
        "an unknown tenant must not get a file"
    );

    let stopped = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown failed: {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn config_with(file: &str, overrides: &[(&str, &str)]) -> config::Config {
    let mut builder = config::Config::builder()
        .add_source(config::File::from(workspace().join(file)).format(config::FileFormat::Toml));
    for (key, value) in overrides {
        builder = builder.set_override(*key, *value).unwrap();
    }
    builder.build().unwrap()
}

#[actix_web::test]
async fn concurrent_first_requests_migrate_a_tenant_once() {
    let dir = std::env::temp_dir().join(unique("tpa_notes_lib"));
    let url = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let config = config_with(
        "config/default.toml",
        &[
            ("server.bind", "127.0.0.1:0"),
            ("directory.template.url", &url),
        ],
    );
    let notes = tenantpool_notes::start(&config).unwrap();
    let (addr, handle) = (notes.addr(), notes.handle());
    let running = actix_web::rt::spawn(notes.run());

    // The first requests of two cold tenants, all at once: each tenant's migrations run once,
    // and no request sees a tenant without its table.
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

    handle.stop(true).await;
    let reports = running.await.unwrap().unwrap();
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves the notes app with the configuration `file`, its directory's template URL replaced
/// by `url`, a budget of 6 and `overrides`, and exercises it with two tenants.
async fn serve_config(file: &str, url: &str, overrides: &[(&str, &str)]) {
    let mut all = vec![
        ("server.bind", "127.0.0.1:0"),
        ("directory.template.url", url),
        ("budget.max_connections", "6"),
    ];
    all.extend_from_slice(overrides);
    let config = config_with(file, &all);
    let (acme, globex) = ("acme.localhost", "globex.localhost");
    let notes = tenantpool_notes::start(&config).unwrap();
    let (addr, handle) = (notes.addr(), notes.handle());
    let running = actix_web::rt::spawn(notes.run());
    exercise(addr, acme, globex).await;
    handle.stop(true).await;
    let reports = running.await.unwrap().unwrap();
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
}

#[actix_web::test]
async fn the_postgres_config_serves_a_database_per_tenant() -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let dbs = server
        .throwaway_databases("tpa_notes_pgdb", &["acme", "globex"])
        .await?;
    let url = format!("{}/{}", server.base_url(), dbs.name("{tenant}"));
    serve_config("config/postgres.toml", &url, &[]).await;
    dbs.remove().await
}

#[actix_web::test]
async fn the_postgres_schema_config_serves_a_schema_per_tenant() -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let db = server.throwaway_database("tpa_notes_pgschema").await?;
    let url = format!("{}/{}", server.base_url(), db.name());
    serve_config(
        "config/postgres-schema.toml",
        &url,
        &[("pool.max_size", "4")],
    )
    .await;
    db.remove().await
}

#[actix_web::test]
async fn the_mysql_config_serves_a_database_per_tenant() -> Result<(), Error> {
    let Some(server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let dbs = server
        .throwaway_databases("tpa_notes_my", &["acme", "globex"])
        .await?;
    let url = format!("{}/{}", server.base_url(), dbs.name("{tenant}"));
    serve_config("config/mysql.toml", &url, &[]).await;
    dbs.remove().await
}
