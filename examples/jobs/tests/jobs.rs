//! The worker next to the notes server, on the same configuration: the binary on SQLite with
//! the default configuration, and the library on PostgreSQL and MariaDB with connections
//! counted on the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tenantpool::catalog::{Catalog, NewTenant, Placement};
use tenantpool::{DatabaseUrl, Registry, TenantId};
use tenantpool_jobs::{JobStore, Worker};
use tenantpool_testkit::{unique, Error, Fixture, MySqlServer, PgServer, TestServer};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config_with(file: &str, overrides: &[(&str, &str)]) -> config::Config {
    let mut builder = config::Config::builder()
        .add_source(config::File::from(workspace().join(file)).format(config::FileFormat::Toml));
    for (key, value) in overrides {
        builder = builder.set_override(*key, *value).expect("override");
    }
    builder.build().expect("config")
}

/// Posts `n` notes for the tenant of `host`.
async fn post_notes(addr: SocketAddr, host: &str, n: usize) {
    let client = awc::Client::default();
    for i in 0..n {
        let resp = client
            .post(format!("http://{addr}/notes"))
            .insert_header(("Host", host))
            .send_json(&json!({"text": format!("note {i}")}))
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 201);
    }
}

/// Starts the notes server for `config`, posts 3 notes for acme and 1 for globex, stops it.
async fn notes_with_some_notes(config: &config::Config) {
    let notes = tenantpool_notes::start(config).expect("notes start");
    let (addr, handle) = (notes.addr(), notes.handle());
    let running = actix_web::rt::spawn(notes.run());
    post_notes(addr, "acme.localhost", 3).await;
    post_notes(addr, "globex.localhost", 1).await;
    handle.stop(true).await;
    let reports = running.await.expect("join").expect("run");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
}

fn run_jobs(dir: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantpool-jobs"))
        .arg("--config")
        .arg(workspace().join("config/default.toml"))
        .args(args)
        .current_dir(dir)
        .env("NOTES_DIRECTORY__TEMPLATE__URL", url)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tenantpool-jobs");
    assert!(
        out.status.success(),
        "tenantpool-jobs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_web::test]
async fn the_binary_works_the_notes_tenants_on_sqlite_with_the_default_config() {
    let dir = std::env::temp_dir().join(unique("tpa_jobs_bin"));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}/{{tenant}}.db", dir.display());
    notes_with_some_notes(&config_with(
        "config/default.toml",
        &[
            ("server.bind", "127.0.0.1:0"),
            ("directory.template.url", &url),
        ],
    ))
    .await;

    run_jobs(&dir, &["enqueue", "acme", "count_notes", "2"], &url);
    run_jobs(&dir, &["enqueue", "acme", "panic"], &url);
    run_jobs(&dir, &["enqueue", "globex", "count_notes"], &url);
    run_jobs(&dir, &["enqueue", "globex", "fail"], &url);
    let worked = run_jobs(&dir, &["work", "--once"], &url);
    assert_eq!(worked.trim(), "worked: done=3 failed=2 errors=0");
    assert_eq!(
        run_jobs(&dir, &["status", "acme"], &url).trim(),
        "acme: pending=0 done=2 failed=1"
    );
    assert_eq!(
        run_jobs(&dir, &["status", "globex"], &url).trim(),
        "globex: pending=0 done=1 failed=1"
    );
    // A tenant the notes server never served: the worker's start hook runs the notes
    // migrations too, so its count is 0, not a missing table.
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).expect("dir");
    let fresh_url = format!("sqlite://{}/{{tenant}}.db", fresh.display());
    run_jobs(&fresh, &["enqueue", "acme", "count_notes"], &fresh_url);
    assert_eq!(
        run_jobs(&fresh, &["work", "--once"], &fresh_url).trim(),
        "worked: done=1 failed=0 errors=0"
    );
    // A bad command line is a usage error (exit 2), not a panic.
    let bad = Command::new(env!("CARGO_BIN_EXE_tenantpool-jobs"))
        .args(["enqueue", "Not A Tenant!", "count_notes"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The library on a server: notes first, then jobs of every kind for both tenants, worked
/// until idle; results per tenant, connections counted on the server.
async fn works_on_a_server<C: JobStore, S: TestServer>(
    t: &Fixture<S>,
    file: &str,
    directory: &[(&str, &str)],
    notes_migrations: impl tenantpool::TenantInit<C>,
) -> Result<(), Error> {
    let mut overrides = vec![
        ("server.bind", "127.0.0.1:0"),
        ("budget.max_connections", "6"),
    ];
    overrides.extend_from_slice(directory);
    let config = config_with(file, &overrides);
    notes_with_some_notes(&config).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;

    let registry: Registry<C> =
        tenantpool_jobs::registry(&config, notes_migrations).expect("registry");
    let (acme, globex) = (
        TenantId::parse("acme").expect("key"),
        TenantId::parse("globex").expect("key"),
    );
    for (tenant, kinds) in [
        (&acme, ["count_notes", "fail", "count_notes", "panic"]),
        (&globex, ["panic", "count_notes", "fail", "count_notes"]),
    ] {
        for kind in kinds {
            tenantpool_jobs::enqueue(&registry, tenant, kind, 1)
                .await
                .expect("enqueue");
        }
    }
    let worker = Worker::new(registry.clone(), 4);
    let totals = worker
        .run_until_idle(registry.tenants().await.expect("listed"))
        .await;
    assert_eq!((totals.done, totals.failed, totals.errors), (4, 4, 0));
    for (tenant, notes) in [(&acme, "3"), (&globex, "1")] {
        let rows = tenantpool_jobs::jobs(&registry, tenant)
            .await
            .expect("jobs");
        assert_eq!(rows.len(), 4);
        for row in rows {
            match row.kind.as_str() {
                "count_notes" => {
                    assert_eq!(
                        (row.status.as_str(), row.result.as_deref()),
                        ("done", Some(notes)),
                        "{tenant}"
                    );
                }
                "fail" => assert_eq!(row.status, "failed"),
                "panic" => {
                    assert_eq!(row.status, "failed");
                    assert!(row
                        .result
                        .as_deref()
                        .is_some_and(|r| r.contains("panicked")));
                }
                other => panic!("{other}"),
            }
        }
    }
    // Every job gave its connection back; a panic inside a job rolls back and keeps the
    // connection (nothing discarded).
    let stats = registry.stats();
    assert_eq!(stats.pools.iter().map(|p| p.in_use).sum::<usize>(), 0);
    assert_eq!(stats.counters.discarded_dirty, 0, "{:?}", stats.counters);
    assert!(t.count().await? <= 6);
    registry.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[actix_web::test]
async fn the_worker_runs_next_to_notes_on_postgres() -> Result<(), Error> {
    let Some(t) = Fixture::<PgServer>::start("tpa_jobs_pg", 8).await? else {
        return Ok(());
    };
    // config/postgres.toml reads its tenants from a catalog: the catalog makes the databases.
    let dbs = t.server.throwaway_databases("tpa_jobs_pg", &[]).await?;
    let (control, url) = (t.url(&dbs.name("catalog")), t.url(&dbs.name("{tenant}")));
    let catalog = Catalog::new(DatabaseUrl::parse(&control).expect("url"))
        .placement("main", Placement::database(&url).expect("placement"));
    catalog.install().await.expect("install");
    for key in ["acme", "globex"] {
        let tenant = TenantId::parse(key).expect("key");
        catalog
            .create(&tenant, NewTenant::in_placement("main"))
            .await
            .expect("create");
    }
    drop(catalog);
    works_on_a_server::<diesel_async::AsyncPgConnection, _>(
        &t,
        "config/postgres.toml",
        &[
            ("directory.catalog.url", &control),
            ("directory.catalog.placements.main.url", &url),
        ],
        tenantpool_notes::ServerMigrations,
    )
    .await?;
    dbs.remove().await
}

#[actix_web::test]
async fn the_worker_runs_next_to_notes_on_mariadb() -> Result<(), Error> {
    let Some(t) = Fixture::<MySqlServer>::start("tpa_jobs_my", 8).await? else {
        return Ok(());
    };
    let dbs = t
        .server
        .throwaway_databases("tpa_jobs_my", &["acme", "globex"])
        .await?;
    let url = t.url(&dbs.name("{tenant}"));
    works_on_a_server::<diesel_async::AsyncMysqlConnection, _>(
        &t,
        "config/mysql.toml",
        &[("directory.template.url", &url)],
        tenantpool_notes::ServerMigrations,
    )
    .await?;
    dbs.remove().await
}
