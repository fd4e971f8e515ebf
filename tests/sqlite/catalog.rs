//! The catalog in a SQLite control database: tenants created, suspended, resumed and deleted
//! reach a registry built from the `[directory.catalog]` section; concurrent creates of one
//! key make one winner (the file lock and SQLite's write lock).

use std::time::Duration;

use tenantpool::catalog::{Catalog, CatalogError, DeleteMode, NewTenant, Placement};
use tenantpool::{DatabaseUrl, Error, ErrorKind, Settings};
use tenantpool_testkit::wait_until;

use crate::{data_dir, file, tenant};

const PROPAGATION: Duration = Duration::from_secs(10);

fn catalog(dir: &std::path::Path) -> Catalog {
    Catalog::new(
        DatabaseUrl::parse(&format!("sqlite://{}/catalog.db", dir.display())).expect("url"),
    )
    .poll_interval(Duration::from_millis(100))
    .placement(
        "local",
        Placement::database(&format!("sqlite://{}/{{tenant}}.db", dir.display()))
            .expect("placement"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_built_from_the_catalog_section_follows_the_catalog() {
    let dir = data_dir("catalog_section");
    let admin = catalog(&dir);
    admin.install().await.expect("install");
    admin
        .create(&tenant("acme"), NewTenant::in_placement("local"))
        .await
        .expect("create");
    assert!(file(&dir, "acme").exists(), "create made the tenant's file");

    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let mut settings = Settings::from_toml_str(&format!(
        r#"
        [directory.catalog]
        url = "sqlite://{dir}/catalog.db"
        poll_interval = "100ms"
        [directory.catalog.placements.local]
        url = "sqlite://{dir}/{{tenant}}.db"
        "#,
        dir = dir.display()
    ))
    .expect("settings");
    settings.pool.max_size = 2;
    let registry = tenantpool::Registry::<tenantpool::SqliteConnection>::builder(settings)
        .build()
        .expect("registry");
    drop(registry.get(&tenant("acme")).await.expect("acme is served"));
    let unknown = registry
        .get(&tenant("nobody"))
        .await
        .expect_err("not in the catalog");
    assert_eq!(unknown.kind(), ErrorKind::NotFound);
    assert!(!file(&dir, "nobody").exists(), "a request created a file");

    admin.suspend(&tenant("acme")).await.expect("suspend");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_err()).await;
    let err = outcome.expect_err("suspended");
    assert!(matches!(err, Error::Suspended { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 403);

    admin.resume(&tenant("acme")).await.expect("resume");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_ok()).await;
    drop(outcome.expect("resumed"));

    // A tenant created after the registry started is served without a restart.
    admin
        .create(&tenant("globex"), NewTenant::in_placement("local"))
        .await
        .expect("create");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&globex), |r| r.is_ok()).await;
    drop(outcome.expect("a new tenant is served"));

    admin
        .delete(&tenant("acme"), DeleteMode::Drop)
        .await
        .expect("delete");
    let err = registry.get(&tenant("acme")).await.expect_err("deleted");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        !file(&dir, "acme").exists(),
        "the dropped tenant's file is gone"
    );
    let statuses: Vec<String> = admin
        .records()
        .await
        .expect("records")
        .iter()
        .map(|r| format!("{}={}", r.tenant, r.status))
        .collect();
    assert_eq!(statuses, ["acme=deleted", "globex=active"]);
    registry.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_key_in_a_sqlite_catalog_make_one_winner() {
    let dir = data_dir("catalog_race");
    catalog(&dir).install().await.expect("install");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = catalog(&dir);
            tokio::spawn(async move {
                c.create(&tenant("race"), NewTenant::in_placement("local"))
                    .await
            })
        })
        .collect();
    let mut outcomes = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => outcomes.0 += 1,
            Err(CatalogError::Exists { .. }) => outcomes.1 += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(outcomes, (1, 7));
}

#[tokio::test]
async fn an_operation_on_a_catalog_that_is_not_installed_says_so() {
    let dir = data_dir("catalog_missing");
    let err = catalog(&dir)
        .suspend(&tenant("acme"))
        .await
        .expect_err("no tables");
    assert!(matches!(err, CatalogError::NotInstalled(_)), "{err:?}");
    let err = catalog(&dir).records().await.expect_err("no tables");
    assert!(
        err.to_string().contains("tenantpool catalog install"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tenants_migrate_once_at_first_start_and_in_bulk() {
    use diesel_migrations::FileBasedMigrations;
    use tenantpool::migrations::{migrate_all, MigrationOutcome, TenantMigrations};

    use crate::common::{migrations_dir, write_migration};

    let dir = data_dir("catalog_migrations");
    let admin = catalog(&dir);
    admin.install().await.expect("install");
    for key in ["a", "b"] {
        admin
            .create(&tenant(key), NewTenant::in_placement("local"))
            .await
            .expect("create");
    }
    let source = migrations_dir("sqlite_catalog", 2);
    let migrations = |c: &Catalog| {
        TenantMigrations::new(FileBasedMigrations::from_path(&source).expect("migrations"))
            .recorded_in(c.clone())
    };
    // Two registries start `a` eight times at once: SQLite's write lock lets one migrate.
    let registries: Vec<_> = (0..2)
        .map(|_| {
            let c = catalog(&dir);
            tenantpool::Registry::<tenantpool::SqliteConnection>::builder(crate::settings(4, 2))
                .directory(c.clone())
                .tenant_init(migrations(&c))
                .build()
                .expect("registry")
        })
        .collect();
    let starts: Vec<_> = (0..8)
        .map(|i| {
            let registry = registries[i % 2].clone();
            tokio::spawn(async move { registry.get(&tenant("a")).await.map(drop) })
        })
        .collect();
    for start in starts {
        start.await.expect("task").expect("a starts, migrated once");
    }
    let record = admin.get(&tenant("a")).await.expect("get").expect("row");
    assert_eq!(record.migration_version.as_deref(), Some("20261201000002"));

    write_migration(&source, 3);
    let bulk = tenantpool::Registry::<tenantpool::SqliteConnection>::builder(crate::settings(4, 2))
        .directory(admin.clone())
        .build()
        .expect("registry");
    let all = vec![tenant("a"), tenant("b")];
    let mut report = migrate_all(&bulk, &migrations(&admin), all.clone(), 2, false, |_| {}).await;
    report.sort_by(|x, y| x.tenant.cmp(&y.tenant));
    let v = |ns: &[u32]| {
        ns.iter()
            .map(|n| format!("2026120100000{n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(report[0].outcome, MigrationOutcome::Applied(v(&[3])));
    assert_eq!(report[1].outcome, MigrationOutcome::Applied(v(&[1, 2, 3])));
    let again = migrate_all(&bulk, &migrations(&admin), all, 2, false, |_| {}).await;
    assert!(
        again.iter().all(|l| l.outcome == MigrationOutcome::Current),
        "{again:?}"
    );
    for r in registries.iter().chain([&bulk]) {
        r.shutdown(Duration::from_secs(5)).await;
    }
}
