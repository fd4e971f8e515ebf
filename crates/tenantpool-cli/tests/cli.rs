//! The CLI as a second process: what it changes in the catalog reaches a registry in this
//! process (on PostgreSQL through LISTEN, elsewhere through polling), concurrent creates from
//! several processes make one winner, and its exit codes and JSON are what a script expects.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tenantpool_core::{Backend, Error, Registry, Settings, TenantId};
use tenantpool_testkit::{Fixture, MySqlServer, PgServer, TestServer};

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join("cli")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    std::fs::create_dir_all(&dir).expect("create");
    dir
}

/// Writes a configuration with a catalog in `control` and one placement `main`.
fn write_config(
    dir: &Path,
    control: &str,
    placement: &str,
    schema: Option<&str>,
    poll: &str,
) -> PathBuf {
    let schema = schema
        .map(|s| format!("schema = \"{s}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "[pool]\nmax_size = 2\n\n[directory.catalog]\nurl = \"{control}\"\npoll_interval = \"{poll}\"\n\n\
         [directory.catalog.placements.main]\nurl = \"{placement}\"\n{schema}"
    );
    let path = dir.join("service.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

fn tenantpool(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantpool"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run the CLI")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn tenant(key: &str) -> TenantId {
    TenantId::parse(key).expect("key")
}

/// The registry the service would build from the same file.
fn registry<C: Backend>(config: &Path) -> Registry<C> {
    let mut settings = Settings::load(Some(config)).expect("settings");
    settings.runtime.io_threads = 1;
    Registry::<C>::builder(settings).build().expect("registry")
}

/// Creates `acme` with the CLI, serves it here, suspends it with the CLI and returns how long
/// after the CLI exited this process answered 403.
async fn suspension_reaches_this_process<C: Backend>(config: &Path, delete: &[&str]) -> Duration {
    let out = tenantpool(
        config,
        &["--json", "tenants", "create", "acme", "--placement", "main"],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["status"], "active");
    let registry = registry::<C>(config);
    drop(registry.get(&tenant("acme")).await.expect("acme is served"));

    let out = tenantpool(config, &["tenants", "suspend", "acme"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let exited = Instant::now();
    let err = loop {
        match registry.get(&tenant("acme")).await {
            Err(e) => break e,
            Ok(conn) => drop(conn),
        }
        assert!(
            exited.elapsed() < Duration::from_secs(20),
            "the suspension never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let seen = exited.elapsed();
    assert!(matches!(err, Error::Suspended { .. }), "{err:?}");

    let out = tenantpool(config, &[&["tenants", "delete", "acme"], delete].concat());
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let err = registry.get(&tenant("acme")).await.expect_err("deleted");
    assert_eq!(err.kind().http_status(), 404);
    registry.shutdown(Duration::from_secs(5)).await;
    seen
}

/// Four CLI processes create one key at once: one exits 0, the others 4 ("exists").
fn racing_creates_make_one_winner(config: &Path) {
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_tenantpool"))
                .arg("--config")
                .arg(config)
                .args(["tenants", "create", "race", "--placement", "main"])
                .output()
        })
        .collect();
    let mut codes: Vec<i32> = children
        .into_iter()
        .map(|c| code(&c.expect("run the CLI")))
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [0, 4, 4, 4]);
}

/// `migrate --all` twice: the first applies both migrations to every active tenant, the
/// second finds them all current in the catalog; a dry run after a third lists it.
fn migrate_all_twice(config: &Path, dir: &Path) {
    for key in ["m1", "m2", "m3"] {
        let out = tenantpool(config, &["tenants", "create", key, "--placement", "main"]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    }
    let migrations = dir.join("migrations");
    for n in 1..=2 {
        write_migration(&migrations, n);
    }
    let path = migrations.to_str().expect("utf-8 path");
    let args = [
        "--json",
        "migrate",
        "--all",
        "--migrations",
        path,
        "--concurrency",
        "2",
    ];
    let out = tenantpool(config, &args);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    let active = report["summary"]["tenants"].as_u64().expect("tenants");
    assert!(active >= 3, "{report}");
    assert_eq!(report["summary"]["applied"], active, "{report}");
    let out = tenantpool(config, &args);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["summary"]["current"], active);
    write_migration(&migrations, 3);
    let out = tenantpool(
        config,
        &["--json", "migrate", "m1", "--migrations", path, "--dry-run"],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    assert_eq!(report["tenants"][0]["outcome"], "pending", "{report}");
    assert_eq!(
        report["tenants"][0]["versions"][0], "20261201000003",
        "{report}"
    );
}

/// Writes migration `n` (creating table `m<n>`) into `dir`, in diesel's layout.
fn write_migration(dir: &Path, n: u32) {
    let folder = dir.join(format!("2026120100000{n}_m{n}"));
    std::fs::create_dir_all(&folder).expect("migration folder");
    std::fs::write(
        folder.join("up.sql"),
        format!("CREATE TABLE m{n} (id INTEGER PRIMARY KEY);\n"),
    )
    .expect("up.sql");
    std::fs::write(folder.join("down.sql"), format!("DROP TABLE m{n};\n")).expect("down.sql");
}

/// Exit codes for what a script meets most.
fn exit_codes_say_what_happened(config: &Path) {
    let out = tenantpool(config, &["--json", "tenants", "show", "nobody"]);
    assert_eq!(code(&out), 3);
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(err["error"]["kind"], "not_found");
    let out = tenantpool(
        config,
        &["tenants", "create", "x", "--placement", "nowhere"],
    );
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    let out = tenantpool(
        config,
        &["tenants", "create", "public", "--placement", "main"],
    );
    assert_eq!(
        code(&out),
        2,
        "a reserved key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tenantpool(config, &["--json", "tenants", "list"]);
    assert_eq!(code(&out), 0);
    assert!(json(&out)
        .as_array()
        .is_some_and(|a| a.iter().all(|r| r["status"] != "deleted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_change_made_by_the_cli_reaches_a_registry_through_listen() {
    let Some(t) = Fixture::<PgServer>::start("tp_cli_pg", 4)
        .await
        .expect("fixture")
    else {
        return;
    };
    let dbs = t
        .server
        .throwaway_databases("tp_clipg", &["control", "shared"])
        .await
        .expect("dbs");
    let dir = scratch("postgres");
    // The poll interval is 30 s: a change seen sooner came through LISTEN. (The delete keeps
    // the data: a drop would wait two poll intervals for replicas that do not listen.)
    let config = write_config(
        &dir,
        &t.url(&dbs.name("control")),
        &t.url(&dbs.name("shared")),
        Some("t_{tenant}"),
        "30s",
    );
    let out = tenantpool(&config, &["catalog", "install"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let seen = suspension_reaches_this_process::<diesel_async_pg::Conn>(&config, &[]).await;
    assert!(
        seen < Duration::from_secs(15),
        "seen after {seen:?}: LISTEN did not deliver"
    );
    println!("FIGURES catalog-change-to-registry postgres listen: {seen:?}");
    racing_creates_make_one_winner(&config);
    exit_codes_say_what_happened(&config);
    t.assert_no_connections(Duration::from_secs(10))
        .await
        .expect("no connection left");
    dbs.remove().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mariadb_a_change_made_by_the_cli_reaches_a_registry_through_polling() {
    let Some(t) = Fixture::<MySqlServer>::start("tp_cli_my", 4)
        .await
        .expect("fixture")
    else {
        return;
    };
    let dbs = t
        .server
        .throwaway_databases("tp_climy", &["control"])
        .await
        .expect("dbs");
    let dir = scratch("mysql");
    let template = t.url(&format!("{}_{{tenant}}", dbs.prefix()));
    let config = write_config(&dir, &t.url(&dbs.name("control")), &template, None, "200ms");
    let out = tenantpool(&config, &["catalog", "install"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let seen =
        suspension_reaches_this_process::<diesel_async_mysql::Conn>(&config, &["--drop"]).await;
    println!("FIGURES catalog-change-to-registry mariadb poll 200ms: {seen:?}");
    racing_creates_make_one_winner(&config);
    exit_codes_say_what_happened(&config);
    t.assert_no_connections(Duration::from_secs(10))
        .await
        .expect("no connection left");
    dbs.remove().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_change_made_by_the_cli_reaches_a_registry_through_polling() {
    let dir = scratch("sqlite");
    let config = write_config(
        &dir,
        &format!("sqlite://{}/catalog.db", dir.display()),
        &format!("sqlite://{}/{{tenant}}.db", dir.display()),
        None,
        "200ms",
    );
    let out = tenantpool(&config, &["catalog", "install"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let seen =
        suspension_reaches_this_process::<tenantpool_core::SqliteConnection>(&config, &["--drop"])
            .await;
    println!("FIGURES catalog-change-to-registry sqlite poll 200ms: {seen:?}");
    assert!(
        !dir.join("acme.db").exists(),
        "delete --drop removed the file"
    );
    racing_creates_make_one_winner(&config);
    exit_codes_say_what_happened(&config);
    migrate_all_twice(&config, &dir);
}

#[test]
fn a_configuration_without_a_catalog_is_a_usage_error() {
    let dir = scratch("no_catalog");
    let path = dir.join("service.toml");
    std::fs::write(&path, "[pool]\nmax_size = 2\n").expect("write");
    let out = tenantpool(&path, &["tenants", "list"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("[directory.catalog]"));
}

mod diesel_async_pg {
    pub type Conn = diesel_async::AsyncPgConnection;
}

mod diesel_async_mysql {
    pub type Conn = diesel_async::AsyncMysqlConnection;
}
