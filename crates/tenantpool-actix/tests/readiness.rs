//! The readiness endpoint over real HTTP on PostgreSQL: 200 while the server accepts
//! connections, 503 with `Retry-After` and the reasons while it refuses them (a
//! `SeveringProxy` plays the outage; the real server never stops), 200 again when it is back.
//! No token is asked, and the body carries no password, database, tag or tenant.

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel_async::AsyncPgConnection;
use tenantpool_actix::readiness::{resource, ReadinessChecks};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantConn, TenantRegistry};
use tenantpool_core::{DatabaseUrl, Registry, Settings, StaticDirectory, TenantId, TenantTarget};
use tenantpool_testkit::{Error, Fixture, PgServer, SeveringProxy, TestServer};

use common::{get, wait_until};

const PASSWORD: &str = "tp-ready-s3cret";

const SETTINGS: &str = r#"
[pool]
max_size = 2
connect_timeout = "2s"
[budget]
max_connections = 2
server_backoff_max = "100ms"
[cache]
maintenance_interval = "100ms"
[readiness]
recent = "400ms"
exhausted_for = "300ms"
"#;

#[actix_web::test]
async fn readyz_answers_503_with_reasons_while_postgres_refuses_connections_and_200_when_back(
) -> Result<(), Error> {
    let Some(t) = Fixture::<PgServer>::start("tp_readyz_actix", 4).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_readyz_actix").await?;
    let upstream = t
        .server
        .base_url()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let proxy = SeveringProxy::start(&upstream).await?;
    // Trust authentication ignores the password: it is there to be kept out of the body.
    let url = proxy
        .proxied(&t.url(db.name()))
        .replacen("@", &format!(":{PASSWORD}@"), 1);
    let url = DatabaseUrl::parse(&url).unwrap();
    let server = url.server().to_string();
    let mut dir = StaticDirectory::new();
    dir.insert(
        TenantId::parse("acme").unwrap(),
        TenantTarget::database(url),
    );
    let registry =
        Registry::<AsyncPgConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
            .directory(dir)
            .build()
            .unwrap();
    let ready = ReadinessChecks::new().registry(registry.clone());
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/readyz")
        .build()
        .unwrap();
    let app_registry = registry.clone();
    let (addr, handle) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(app_registry.clone()))
            .wrap(ResolveTenant::new(resolver.clone()))
            .service(resource("/readyz", ready.clone()))
            .route(
                "/ping",
                web::get().to(|c: TenantConn<AsyncPgConnection>| async move {
                    HttpResponse::Ok().body(c.tenant().to_string())
                }),
            )
    });
    let readyz = || get(addr, "/readyz", &[]);

    // Nothing started yet: ready, with no server to report on.
    let (status, headers, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.get("retry-after").is_none());
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], true);
    assert_eq!(json["servers"].as_array().unwrap().len(), 0);

    let (status, _, _) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 200);
    let (status, _, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["servers"][0]["server"], server.as_str());
    assert_eq!(json["servers"][0]["ready"], true);
    assert_eq!(json["reasons"].as_array().unwrap().len(), 0);

    // The server goes away.
    proxy.refuse_new();
    proxy.sever_existing();
    let ((status, headers, body), waited) =
        wait_until(Duration::from_secs(5), readyz, |(status, _, _)| {
            *status == 503
        })
        .await;
    assert_eq!(status, 503, "still {status} after {waited:?}: {body}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], false);
    assert_eq!(json["servers"][0]["probe"], "failed");
    let reason = &json["reasons"][0];
    assert_eq!(reason["cause"], "no_recent_connection");
    assert_eq!(reason["server"], server.as_str());
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{server}: no connection accepted for ")),
        "{reason}"
    );
    for secret in [PASSWORD, db.name(), t.tag.name(), "acme"] {
        assert!(!body.contains(secret), "{secret:?} in the body: {body}");
    }

    // Back.
    proxy.accept_new();
    let ((status, headers, body), waited) =
        wait_until(Duration::from_secs(5), readyz, |(status, _, _)| {
            *status == 200
        })
        .await;
    assert_eq!(status, 200, "still {status} after {waited:?}: {body}");
    assert!(headers.get("retry-after").is_none());

    handle.stop(true).await;
    registry.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
