//! Tenant migrations at scale: applied once on a tenant's first start however many registries
//! start it at once, skipped without a query when the catalog records the tenant as current,
//! and in bulk over every tenant (resumable, one failing tenant leaving the others migrated).

use std::path::Path;
use std::time::Duration;

use diesel_migrations::FileBasedMigrations;
use tenantpool::catalog::{Catalog, NewTenant, Placement};
use tenantpool::migrations::{migrate_all, MigrationBackend, MigrationOutcome, TenantMigrations};
use tenantpool::{DatabaseUrl, Registry};
use tenantpool_testkit::TestServer;

use super::Dialect;
use crate::common::{migrations_dir, settings, tenant, write_migration, Fixture, TestResult};

fn migrations(dir: &Path, catalog: &Catalog) -> TenantMigrations<FileBasedMigrations> {
    TenantMigrations::new(FileBasedMigrations::from_path(dir).expect("migrations"))
        .recorded_in(catalog.clone())
}

pub async fn migrations_run_once_at_first_start_and_in_bulk_resumably<D: Dialect>() -> TestResult
where
    D::Conn: MigrationBackend,
{
    let Some(t) = Fixture::<D::Server>::start("tp_migrate", 6).await? else {
        return Ok(());
    };
    let dbs = t.server.throwaway_databases("tp_mig", &[]).await?;
    let family = dbs.prefix().to_string();
    let catalog = || {
        Catalog::new(DatabaseUrl::parse(&t.url(&format!("{family}_control"))).expect("url"))
            .placement(
                "own",
                Placement::database(&t.url(&format!("{family}_{{tenant}}"))).expect("placement"),
            )
    };
    let admin = catalog();
    admin.install().await.expect("install");
    for key in ["a", "b", "c"] {
        admin
            .create(&tenant(key), NewTenant::in_placement("own"))
            .await
            .expect("create");
    }
    let dir = migrations_dir(&format!("{}_{family}", D::FIGURES.trim()), 2);

    // Two registries (as two processes would), each starting `a` four times at once: the
    // migrations run once (a second run would fail on CREATE TABLE).
    let registries: Vec<Registry<D::Conn>> = (0..2)
        .map(|_| {
            let c = catalog();
            Registry::<D::Conn>::builder(settings(8, 2))
                .directory(c.clone())
                .tenant_init(migrations(&dir, &c))
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
    let recorded = admin
        .get(&tenant("a"))
        .await
        .expect("get")
        .expect("row")
        .migration_version;
    assert_eq!(recorded.as_deref(), Some("20261201000002"));
    for r in &registries {
        r.shutdown(Duration::from_secs(5)).await;
    }

    // In bulk, with a third migration: b and c are behind by three, a by one.
    write_migration(&dir, 3);
    let bulk_catalog = catalog();
    let bulk = Registry::<D::Conn>::builder(settings(4, 2))
        .directory(bulk_catalog.clone())
        .build()
        .expect("registry");
    let all = vec![tenant("a"), tenant("b"), tenant("c")];
    let mut seen = 0;
    let mut report = migrate_all(
        &bulk,
        &migrations(&dir, &bulk_catalog),
        all.clone(),
        2,
        false,
        |_| seen += 1,
    )
    .await;
    report.sort_by(|x, y| x.tenant.cmp(&y.tenant));
    let outcomes: Vec<_> = report.iter().map(|l| l.outcome.clone()).collect();
    let v = |ns: &[u32]| {
        ns.iter()
            .map(|n| format!("2026120100000{n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outcomes,
        [
            MigrationOutcome::Applied(v(&[3])),
            MigrationOutcome::Applied(v(&[1, 2, 3])),
            MigrationOutcome::Applied(v(&[1, 2, 3])),
        ]
    );
    assert_eq!(seen, 3, "one progress call per tenant");
    // Run again: every tenant is current in the catalog, and none is checked out.
    let checkouts = bulk.stats().counters.checkouts;
    let again = migrate_all(
        &bulk,
        &migrations(&dir, &bulk_catalog),
        all.clone(),
        2,
        false,
        |_| {},
    )
    .await;
    assert!(
        again.iter().all(|l| l.outcome == MigrationOutcome::Current),
        "{again:?}"
    );
    assert_eq!(bulk.stats().counters.checkouts, checkouts);

    // A fourth migration that fails for c only (its table is there already): a and b are
    // migrated, c's failure is reported, and a dry run lists what c still lacks.
    write_migration(&dir, 4);
    {
        let mut conn = bulk.get(&tenant("c")).await.expect("c");
        D::execute(&mut conn, "CREATE TABLE m4 (id INTEGER PRIMARY KEY)")
            .await
            .expect("m4");
    }
    let mut report = migrate_all(
        &bulk,
        &migrations(&dir, &bulk_catalog),
        all.clone(),
        3,
        false,
        |_| {},
    )
    .await;
    report.sort_by(|x, y| x.tenant.cmp(&y.tenant));
    assert_eq!(report[0].outcome, MigrationOutcome::Applied(v(&[4])));
    assert_eq!(report[1].outcome, MigrationOutcome::Applied(v(&[4])));
    assert!(
        matches!(report[2].outcome, MigrationOutcome::Failed(_)),
        "{:?}",
        report[2]
    );
    let dry = migrate_all(
        &bulk,
        &migrations(&dir, &bulk_catalog),
        vec![tenant("c")],
        1,
        true,
        |_| {},
    )
    .await;
    assert_eq!(dry[0].outcome, MigrationOutcome::Pending(v(&[4])));

    // A current tenant starts without a migration query: with diesel's own record of a's
    // migrations gone, a query would try to apply them again and fail.
    {
        let mut conn = bulk.get(&tenant("a")).await.expect("a");
        D::execute(&mut conn, "DROP TABLE __diesel_schema_migrations")
            .await
            .expect("drop");
    }
    bulk.shutdown(Duration::from_secs(5)).await;
    let fresh_catalog = catalog();
    let fresh = Registry::<D::Conn>::builder(settings(4, 2))
        .directory(fresh_catalog.clone())
        .tenant_init(migrations(&dir, &fresh_catalog))
        .build()
        .expect("registry");
    drop(
        fresh
            .get(&tenant("a"))
            .await
            .expect("a starts without touching its migrations"),
    );
    fresh.shutdown(Duration::from_secs(5)).await;

    drop((admin, bulk, fresh, registries));
    t.assert_no_connections(Duration::from_secs(10)).await?;
    dbs.remove().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
