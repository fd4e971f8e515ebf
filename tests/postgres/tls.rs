//! TLS to PostgreSQL, checked on the server (`pg_stat_ssl`): each `sslmode`, root files,
//! host names, client certificates, and what a failure looks like. Needs `.ci/tls-setup`
//! (roles `tp_tls_only`, TLS only, and `tp_tls_cert`, client certificate only).

use std::time::Duration;

use tenantpool::{Error, Registry, StaticDirectory, TenantTarget};
use tenantpool_testkit::PgServer;

use crate::common::{
    host_port, registry, settings, tenant, tls_files, Fixture, TestResult, TestServer,
};
use crate::Pg;

/// A registry serving tenant `acme` from database `postgres` at `host` as `user`, with the
/// fixture's tag and `params` appended to the URL.
fn tls_registry(t: &Fixture<PgServer>, host: &str, user: &str, params: &str) -> Registry<Pg> {
    let url = format!(
        "postgres://{user}@{host}/postgres?application_name={}&{params}",
        t.tag.name()
    );
    let url = tenantpool::DatabaseUrl::parse(&url).expect("url");
    let dir = StaticDirectory::new().with(tenant("acme"), TenantTarget::database(url));
    registry::<Pg>(settings(2, 1), dir)
}

/// (encrypted, all) sessions carrying the fixture's tag, as the server sees them.
async fn encrypted(t: &Fixture<PgServer>) -> (i64, i64) {
    let row = t
        .server
        .client()
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&t.tag.name()],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

/// Checks out for acme, runs a query, and returns what the server says of the session.
async fn served_encrypted(t: &Fixture<PgServer>, registry: &Registry<Pg>) -> (i64, i64) {
    let mut conn = registry.get(&tenant("acme")).await.expect("checkout");
    crate::text(&mut conn, "SELECT current_user::text AS value").await;
    let seen = encrypted(t).await;
    drop(conn);
    seen
}

async fn expect_tls_error(registry: &Registry<Pg>) -> Error {
    let err = registry
        .get(&tenant("acme"))
        .await
        .expect_err("the connection must fail");
    assert_eq!(err.kind().http_status(), 503, "{err}");
    assert!(
        !registry.is_cached(&tenant("acme")),
        "a failed tenant was cached"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_the_default_prefer_encrypt_every_session() -> TestResult {
    let Some(_files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_req", 4).await? else {
        return Ok(());
    };
    let host = host_port(t.server.base_url());
    let r = tls_registry(&t, &host, "tp_tls_only", "sslmode=require");
    assert_eq!(served_encrypted(&t, &r).await, (1, 1));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;

    // No sslmode at all: `prefer`, as libpq; the server offers TLS, so the session is
    // encrypted (and the TLS-only role accepts it).
    let r = tls_registry(&t, &host, "tp_tls_only", "connect_timeout=5");
    assert_eq!(served_encrypted(&t, &r).await, (1, 1));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_accepts_the_right_root_and_refuses_a_wrong_one_typed_and_uncached(
) -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_vf", 4).await? else {
        return Ok(());
    };
    let host = host_port(t.server.base_url());
    let r = tls_registry(
        &t,
        &host,
        "tp_tls_only",
        &format!("sslmode=verify-full&sslrootcert={}", files.ca),
    );
    assert_eq!(served_encrypted(&t, &r).await, (1, 1));
    r.shutdown(Duration::from_secs(5)).await;

    let r = tls_registry(
        &t,
        &host,
        "tp_tls_only",
        &format!("sslmode=verify-full&sslrootcert={}", files.wrong_ca),
    );
    let err = expect_tls_error(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("acme"), "{err}");
    // The server was not marked down: a target with the right root still connects.
    assert_eq!(r.stats().counters.connect_failures, 1);
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_host", 4).await? else {
        return Ok(());
    };
    // 127.0.0.2 reaches the same server, but the certificate names only localhost and
    // 127.0.0.1.
    let port = host_port(t.server.base_url())
        .rsplit_once(':')
        .map_or("5432".to_string(), |(_, p)| p.to_string());
    let other = format!("127.0.0.2:{port}");
    let r = tls_registry(
        &t,
        &other,
        "tp_tls_only",
        &format!("sslmode=verify-full&sslrootcert={}", files.ca),
    );
    let err = expect_tls_error(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    r.shutdown(Duration::from_secs(5)).await;

    let r = tls_registry(
        &t,
        &other,
        "tp_tls_only",
        &format!("sslmode=verify-ca&sslrootcert={}", files.ca),
    );
    assert_eq!(served_encrypted(&t, &r).await, (1, 1));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_against_a_tls_only_role_fails_clearly() -> TestResult {
    let Some(_files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_off", 4).await? else {
        return Ok(());
    };
    let host = host_port(t.server.base_url());
    let r = tls_registry(&t, &host, "tp_tls_only", "sslmode=disable");
    let err = r
        .get(&tenant("acme"))
        .await
        .expect_err("plain TCP is rejected");
    assert_eq!(err.kind().http_status(), 503, "{err}");
    assert!(err.to_string().contains("pg_hba.conf"), "{err}");
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_and_its_absence_does_not() -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_cert", 4).await? else {
        return Ok(());
    };
    let host = host_port(t.server.base_url());
    let r = tls_registry(
        &t,
        &host,
        "tp_tls_cert",
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            files.ca, files.client_cert, files.client_key
        ),
    );
    assert_eq!(served_encrypted(&t, &r).await, (1, 1));
    r.shutdown(Duration::from_secs(5)).await;

    let r = tls_registry(
        &t,
        &host,
        "tp_tls_cert",
        &format!("sslmode=verify-full&sslrootcert={}", files.ca),
    );
    let err = r
        .get(&tenant("acme"))
        .await
        .expect_err("no certificate, no login");
    assert_eq!(err.kind().http_status(), 503, "{err}");
    assert!(!err.to_string().contains("BEGIN"), "{err}");
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_statement_is_cancelled_over_tls() -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let Some(t) = Fixture::<PgServer>::start("tp_tls_cancel", 5).await? else {
        return Ok(());
    };
    let host = host_port(t.server.base_url());
    let r = tls_registry(
        &t,
        &host,
        "tp_tls_only",
        &format!("sslmode=verify-full&sslrootcert={}", files.ca),
    );
    let mut conn = r.get(&tenant("acme")).await.expect("checkout");
    let sleep = async {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT pg_sleep(30)")
            .execute(&mut conn)
            .await
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sleep)
            .await
            .is_err(),
        "the sleep finished early"
    );
    drop(conn);
    let (running, waited) = crate::common::wait_until(
        Duration::from_secs(5),
        || t.server.count_running(t.tag.name(), "SELECT pg_sleep"),
        |n| matches!(n, Ok(0)),
    )
    .await;
    assert_eq!(running?, 0, "the statement still ran {waited:?} later");
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
