//! Schema per tenant: every checkout is on the tenant's schema (on MySQL, its database, reached
//! with `USE`), switching costs a round trip only when the connection was on another schema,
//! and one tenant cannot starve the others of a shared pool.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use tenantpool::{DatabaseUrl, Error, SchemaName, StaticDirectory, TenantTarget};

use super::Dialect;
use crate::common::{hold, registry, settings, tenant, wait_until, Fixture};
use crate::common::{Count, TestResult};

pub async fn interleaved_schema_tenants_only_ever_see_their_own_schema_and_rows<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_schema_iso", 7).await? else {
        return Ok(());
    };
    let keys: Vec<String> = (0..12).map(|i| format!("iso{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let schemas = D::schemas(&t, "tp_schema_iso", &keys).await?;
    let mut s = settings(4, 4);
    // All 480 checkouts queue at once, round-robin over the tenants. Once every waiter is past
    // the affinity delay they are served oldest first, and the oldest is always another
    // tenant than the one a connection just served: whether any switch is skipped would then
    // depend on the machine's speed. A long delay keeps affinity on, so a returned connection
    // goes to a waiter on its schema, which skips the switch.
    s.pool.affinity_max_delay = Duration::from_secs(10);
    let registry = registry::<D::Conn>(s, schemas.template());
    let sampler = t.sampler(Count::Tagged).await?;

    let mut tasks = Vec::new();
    for round in 0..40 {
        for (key, schema) in &schemas.tenants {
            let registry = registry.clone();
            let (key, schema) = (key.clone(), schema.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = registry.get(&tenant(&key)).await.expect("checkout");
                let current = D::text(&mut conn, D::CURRENT_SCHEMA).await;
                assert_eq!(
                    current, schema,
                    "round {round}: {key} ran on another tenant's schema"
                );
                let owner = D::text(&mut conn, "SELECT owner AS value FROM item").await;
                assert_eq!(
                    owner, schema,
                    "round {round}: {key} read another tenant's row"
                );
            }));
        }
    }
    let requests = tasks.len() as u64;
    for t in tasks {
        t.await.expect("request");
    }
    let peak = sampler.finish().await?.peak;
    let c = registry.stats().counters;
    assert_eq!(c.checkouts, requests, "checkouts");
    assert_eq!(c.pools_created, 1, "schema tenants must share one pool");
    assert!(peak <= 4, "peak {peak} server connections > max_size 4");
    assert!(
        c.schema_switches < requests,
        "a switch on every checkout ({} for {requests}): the skip never happened",
        c.schema_switches
    );
    eprintln!(
        "FIGURES {}schema_iso: requests={requests} schema_switches={} peak_server={peak}",
        D::FIGURES,
        c.schema_switches
    );
    Ok(())
}

pub async fn a_connection_whose_schema_switch_was_cancelled_is_never_trusted_to_be_on_a_schema<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_schema_cancel", 4).await? else {
        return Ok(());
    };
    let schemas = D::schemas(&t, "tp_schema_cancel", &["red", "blue"]).await?;
    let registry = registry::<D::Conn>(settings(2, 1), schemas.template());
    // One connection only: every checkout below reuses it.
    for i in 0..200u64 {
        let key = if i % 2 == 0 { "red" } else { "blue" };
        // Cancel some checkouts at every possible point of the switch.
        let attempt = tokio::time::timeout(
            Duration::from_micros(50 * (i % 7)),
            registry.get(&tenant(key)),
        )
        .await;
        drop(attempt);
        let mut conn = registry.get(&tenant(key)).await.expect("checkout");
        assert_eq!(
            D::text(&mut conn, "SELECT owner AS value FROM item").await,
            schemas.schema(key),
            "iteration {i}"
        );
    }
    // A connection discarded by a cancelled switch is closed by the pool at once, but the
    // server drops its session a moment later: wait (bounded) for the count to settle.
    let (count, waited) = wait_until(
        Duration::from_secs(3),
        || t.count(),
        |count| matches!(count, Ok(n) if *n <= 1),
    )
    .await;
    let count = count?;
    assert!(count <= 1, "{count} server connections after {waited:?}");
    Ok(())
}

pub async fn user_code_that_changes_the_schema_must_discard_and_then_nobody_inherits_it<
    D: Dialect,
>() -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_schema_contract", 4).await? else {
        return Ok(());
    };
    let schemas = D::schemas(&t, "tp_schema_contract", &["left", "right"]).await?;
    let registry = registry::<D::Conn>(settings(2, 1), schemas.directory());

    let mut conn = registry.get(&tenant("left")).await.expect("left");
    conn.batch_execute(&D::use_schema(&schemas.schema("right")))
        .await
        .expect("user code changes the schema");
    conn.discard(); // the contract: session state the registry does not track → discard
    drop(conn);
    let mut conn = registry.get(&tenant("left")).await.expect("left again");
    assert_eq!(
        D::text(&mut conn, "SELECT owner AS value FROM item").await,
        schemas.schema("left")
    );
    assert_eq!(registry.stats().counters.discarded_dirty, 1);
    Ok(())
}

pub async fn one_noisy_tenant_cannot_take_more_than_its_share_of_a_shared_pool<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_fair_share", 6).await? else {
        return Ok(());
    };
    let schemas = D::schemas(&t, "tp_fair_share", &["noisy", "quiet"]).await?;
    let mut s = settings(4, 4);
    s.pool.tenant_max_in_use = Some(2);
    s.pool.checkout_timeout = Duration::from_millis(300);
    let registry = registry::<D::Conn>(s, schemas.directory());
    let noisy = hold(&registry, "noisy", 2).await;
    let third = registry
        .get(&tenant("noisy"))
        .await
        .expect_err("over its share");
    assert!(matches!(third, Error::Exhausted { .. }), "{third:?}");
    let mut quiet = registry
        .get(&tenant("quiet"))
        .await
        .expect("quiet still gets one");
    assert_eq!(
        D::text(&mut quiet, "SELECT owner AS value FROM item").await,
        schemas.schema("quiet")
    );
    drop(noisy);
    Ok(())
}

pub async fn a_missing_schema_is_a_typed_error_unless_the_target_creates_it<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_schema_missing", 4).await? else {
        return Ok(());
    };
    let schemas = D::schemas(&t, "tp_schema_missing", &[]).await?;
    let (absent, fresh) = (schemas.schema("absent"), schemas.schema("fresh"));
    let url = DatabaseUrl::parse(&schemas.url).expect("url");
    let dir = StaticDirectory::new()
        .with(
            tenant("absent"),
            TenantTarget::schema(url.clone(), SchemaName::parse(&absent).expect("s")),
        )
        .with(
            tenant("fresh"),
            TenantTarget::schema(url, SchemaName::parse(&fresh).expect("s")).creating_missing(),
        );
    let registry = registry::<D::Conn>(settings(2, 2), dir);
    let err = registry
        .get(&tenant("absent"))
        .await
        .expect_err("absent schema");
    assert!(matches!(err, Error::SchemaMissing { .. }), "{err:?}");
    assert_eq!(err.kind().http_status(), 404);
    assert!(!registry.is_cached(&tenant("absent")));
    assert!(!D::schema_exists(&t.server, &schemas, &absent).await?);

    let mut c = registry
        .get(&tenant("fresh"))
        .await
        .expect("created on first use");
    assert_eq!(D::text(&mut c, D::CURRENT_SCHEMA).await, fresh);
    assert!(D::schema_exists(&t.server, &schemas, &fresh).await?);
    Ok(())
}
