//! TLS to MariaDB, checked on the server (`Ssl_cipher` of the session): each `ssl-mode`, root
//! files, host names, client certificates. Needs `.ci/tls-setup` (users `tp_tls_only`,
//! `REQUIRE SSL`, and `tp_tls_x509`, `REQUIRE X509`). The users are fixed, so each one's
//! scenarios run in one test, one after the other.

use std::time::Duration;

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use mysql_async::prelude::Queryable;
use tenantpool::{Error, Registry, StaticDirectory, TenantTarget};
use tenantpool_testkit::MySqlServer;

use crate::common::{
    host_port, registry, reserve, settings, tenant, tls_files, wait_until, TestResult, TestServer,
};
use crate::My;

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

fn tls_registry(host: &str, user: &str, params: &str) -> Registry<My> {
    let url = format!("mysql://{user}@{host}/test?{params}");
    let url = tenantpool::DatabaseUrl::parse(&url).expect("url");
    let dir = StaticDirectory::new().with(tenant("acme"), TenantTarget::database(url));
    registry::<My>(settings(2, 1), dir)
}

/// The session's cipher, as the server reports it ("" for plain TCP).
async fn cipher(registry: &Registry<My>) -> String {
    let mut conn = registry.get(&tenant("acme")).await.expect("checkout");
    diesel::sql_query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .get_result::<Status>(&mut conn)
        .await
        .expect("Ssl_cipher")
        .value
}

async fn sessions_of(server: &MySqlServer, user: &str) -> i64 {
    let mut admin = server.pool().get_conn().await.expect("admin");
    admin
        .exec_first::<i64, _, _>(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
            (user,),
        )
        .await
        .expect("PROCESSLIST")
        .unwrap_or(0)
}

async fn closed(registry: Registry<My>, server: &MySqlServer, user: &str) {
    registry.shutdown(Duration::from_secs(5)).await;
    let (left, waited) = wait_until(
        Duration::from_secs(5),
        || sessions_of(server, user),
        |n| *n == 0,
    )
    .await;
    assert_eq!(
        left, 0,
        "{user} still had sessions {waited:?} after the shutdown"
    );
}

async fn refused(registry: &Registry<My>) -> Error {
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
async fn each_ssl_mode_against_a_user_that_requires_tls() -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let _slots = reserve(3).await;
    let Some(server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let host = host_port(server.base_url());
    let user = "tp_tls_only";

    // REQUIRED: encrypted, certificate not checked.
    let r = tls_registry(&host, user, "ssl-mode=REQUIRED");
    assert!(!cipher(&r).await.is_empty(), "REQUIRED gave plain TCP");
    closed(r, &server, user).await;

    // VERIFY_IDENTITY with the CA that signed the server's certificate.
    let r = tls_registry(
        &host,
        user,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", files.ca),
    );
    assert!(!cipher(&r).await.is_empty());
    closed(r, &server, user).await;

    // A wrong CA: a typed TLS error, nothing cached.
    let r = tls_registry(
        &host,
        user,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", files.wrong_ca),
    );
    let err = refused(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    closed(r, &server, user).await;

    // 127.0.0.2 is not in the certificate: VERIFY_IDENTITY refuses it.
    let port = host.rsplit_once(':').map_or("3306", |(_, p)| p).to_string();
    let other = format!("127.0.0.2:{port}");
    let r = tls_registry(
        &other,
        user,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", files.ca),
    );
    let err = refused(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    closed(r, &server, user).await;

    // VERIFY_CA checks the chain: the right root passes, a wrong one does not. (mysql_async
    // 0.36 also checks the name under VERIFY_CA with current rustls: see docs/tls.md.)
    let r = tls_registry(
        &host,
        user,
        &format!("ssl-mode=VERIFY_CA&ssl-ca={}", files.ca),
    );
    assert!(!cipher(&r).await.is_empty());
    closed(r, &server, user).await;
    let r = tls_registry(
        &host,
        user,
        &format!("ssl-mode=VERIFY_CA&ssl-ca={}", files.wrong_ca),
    );
    let err = refused(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    closed(r, &server, user).await;

    // DISABLED against a user that requires TLS: refused by the server, clearly.
    let r = tls_registry(&host, user, "ssl-mode=DISABLED");
    let err = refused(&r).await;
    assert!(err.to_string().contains("Access denied"), "{err}");
    closed(r, &server, user).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_and_its_absence_does_not() -> TestResult {
    let Some(files) = tls_files() else {
        return Ok(());
    };
    let _slots = reserve(3).await;
    let Some(server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let host = host_port(server.base_url());
    let user = "tp_tls_x509";
    let r = tls_registry(
        &host,
        user,
        &format!(
            "ssl-mode=VERIFY_IDENTITY&ssl-ca={}&ssl-cert={}&ssl-key={}",
            files.ca, files.mysql_client_cert, files.mysql_client_key
        ),
    );
    assert!(!cipher(&r).await.is_empty());
    closed(r, &server, user).await;

    let r = tls_registry(
        &host,
        user,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", files.ca),
    );
    let err = refused(&r).await;
    assert!(err.to_string().contains("Access denied"), "{err}");
    closed(r, &server, user).await;

    // A key in a form the driver cannot read is a typed TLS error naming the file, never
    // its contents.
    let r = tls_registry(
        &host,
        user,
        &format!(
            "ssl-mode=VERIFY_IDENTITY&ssl-ca={}&ssl-cert={}&ssl-key={}",
            files.ca, files.client_cert, files.client_key
        ),
    );
    let err = refused(&r).await;
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("PKCS#1"), "{err}");
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    closed(r, &server, user).await;
    Ok(())
}
