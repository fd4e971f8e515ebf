//! The catalog on a real server: tenants created, suspended, resumed, moved and deleted in a
//! control database reach a registry through its watch; a suspended tenant's database is not
//! touched, a moved one drains; concurrent creates of one key make one winner. Sessions are
//! counted on the server.

use std::time::Duration;

use tenantpool::catalog::{Catalog, CatalogError, DeleteMode, NewTenant, Placement};
use tenantpool::{DatabaseUrl, Error, ErrorKind};
use tenantpool_testkit::TestServer;

use super::Dialect;
use crate::common::{registry, settings, tenant, wait_until, Fixture, TestResult};

/// How long a change may take to reach the registry in these tests (they poll every 100 ms).
const PROPAGATION: Duration = Duration::from_secs(10);

/// A catalog in the throwaway database `control`, with two placements: `own` (a database per
/// tenant, named after the family) and `shared` (a schema per tenant; on MySQL, a database).
fn catalog<S: TestServer>(t: &Fixture<S>, family: &str, poll: Duration) -> Catalog {
    let control = DatabaseUrl::parse(&t.url(&format!("{family}_control"))).expect("url");
    Catalog::new(control)
        .poll_interval(poll)
        .placement(
            "own",
            Placement::database(&t.url(&format!("{family}_{{tenant}}"))).expect("placement"),
        )
        .placement(
            "shared",
            Placement::schema(
                &t.url(&format!("{family}_shared")),
                &format!("{family}_s_{{tenant}}"),
            )
            .expect("placement"),
        )
}

/// The sessions the server lists in `database`, asked over `conn`.
async fn sessions_in<D: Dialect>(conn: &mut D::Conn, database: &str) -> i64 {
    D::text(conn, &D::SESSIONS_IN.replace("{db}", database))
        .await
        .parse()
        .expect("a count")
}

pub async fn a_tenant_created_suspended_resumed_moved_and_deleted_in_the_catalog_reaches_the_registry<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_catalog", 4).await? else {
        return Ok(());
    };
    // The control database is not there: install creates it.
    let dbs = t.server.throwaway_databases("tp_cat", &["shared"]).await?;
    let family = dbs.prefix().to_string();
    let admin = catalog(&t, &family, Duration::from_millis(100));
    admin.install().await.expect("catalog operation");
    assert!(
        t.server
            .database_exists(&format!("{family}_control"))
            .await?
    );
    admin.install().await.expect("a second install is a no-op");

    let acme = tenant("acme");
    let created = admin
        .create(&acme, NewTenant::in_placement("own"))
        .await
        .expect("catalog operation");
    assert_eq!(created.status.to_string(), "active");
    assert!(t.server.database_exists(&format!("{family}_acme")).await?);
    let again = admin.create(&acme, NewTenant::in_placement("own")).await;
    assert!(
        matches!(again, Err(CatalogError::Exists { .. })),
        "{again:?}"
    );
    let nowhere = admin
        .create(&tenant("other"), NewTenant::in_placement("nowhere"))
        .await;
    assert!(
        matches!(nowhere, Err(CatalogError::UnknownPlacement { .. })),
        "{nowhere:?}"
    );

    // The service's registry reads its own catalog instance, as another replica would.
    let registry = registry::<D::Conn>(
        settings(6, 2),
        catalog(&t, &family, Duration::from_millis(100)),
    );
    {
        let mut conn = registry.get(&acme).await.expect("catalog operation");
        assert_eq!(
            D::text(&mut conn, D::CURRENT_DATABASE).await,
            format!("{family}_acme")
        );
    }
    let unknown = registry
        .get(&tenant("nobody"))
        .await
        .expect_err("not in the catalog");
    assert_eq!(unknown.kind(), ErrorKind::NotFound);

    // Suspended: 403 everywhere within the bound, and acme's database is left alone.
    admin.suspend(&acme).await.expect("catalog operation");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_err()).await;
    let err = outcome.expect_err("suspended");
    assert!(matches!(err, Error::Suspended { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 403);
    registry.run_maintenance();
    // Resumed: served again.
    admin.resume(&acme).await.expect("catalog operation");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_ok()).await;
    let mut old = outcome.expect("resumed");

    // Moved while a connection is out: new checkouts start at the new place, the old
    // connection finishes where it is, and the old database is left when it is returned.
    let schema = format!("{family}_s_acme");
    admin
        .move_to(&acme, "shared")
        .await
        .expect("catalog operation");
    let (moved, _) = wait_until(
        PROPAGATION,
        || async {
            let mut conn = registry.get(&acme).await.expect("checkout");
            D::text(&mut conn, D::CURRENT_SCHEMA).await
        },
        |s| *s == schema,
    )
    .await;
    assert_eq!(
        moved, schema,
        "checkouts after the move are on the tenant's schema"
    );
    assert_eq!(
        D::text(&mut old, D::CURRENT_DATABASE).await,
        format!("{family}_acme")
    );
    drop(old);
    let mut probe = registry.get(&acme).await.expect("catalog operation");
    let old_database = format!("{family}_acme");
    let mut left = -1;
    for _ in 0..100 {
        registry.run_maintenance();
        left = sessions_in::<D>(&mut probe, &old_database).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "sessions left in the old database after the drain");
    drop(probe);

    // Deleted: 404 within the bound; the key can be taken again; a drop removes the data.
    admin
        .delete(&acme, DeleteMode::Keep)
        .await
        .expect("catalog operation");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_err()).await;
    assert_eq!(outcome.expect_err("deleted").kind(), ErrorKind::NotFound);
    admin
        .create(&acme, NewTenant::in_placement("own"))
        .await
        .expect("catalog operation");
    let (outcome, _) = wait_until(PROPAGATION, || registry.get(&acme), |r| r.is_ok()).await;
    drop(outcome.expect("created again"));
    let record = admin
        .delete(&acme, DeleteMode::Drop)
        .await
        .expect("catalog operation");
    assert_eq!(record.status.to_string(), "deleted");
    assert!(
        !t.server.database_exists(&format!("{family}_acme")).await?,
        "dropped"
    );
    let records = admin.records().await.expect("catalog operation");
    assert_eq!(records.len(), 1);

    // Shutdown stops the watch and closes the catalog's connections.
    drop(admin);
    registry.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(10)).await?;
    dbs.remove().await?;
    Ok(())
}

pub async fn concurrent_creates_of_one_key_make_one_winner_and_the_others_see_it_exists<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_catalog_race", 4).await? else {
        return Ok(());
    };
    let dbs = t
        .server
        .throwaway_databases("tp_catr", &["control", "shared"])
        .await?;
    let family = dbs.prefix().to_string();
    catalog(&t, &family, Duration::from_secs(1))
        .install()
        .await
        .expect("catalog operation");
    // Eight catalogs, eight sessions: as eight processes would race.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = catalog(&t, &family, Duration::from_secs(1));
            tokio::spawn(async move {
                c.create(&tenant("race"), NewTenant::in_placement("shared"))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    let mut exists = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(CatalogError::Exists { .. }) => exists += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!((won, exists), (1, 7));
    t.assert_no_connections(Duration::from_secs(10)).await?;
    dbs.remove().await?;
    Ok(())
}
