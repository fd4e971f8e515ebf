//! The readiness endpoint over real HTTP on PostgreSQL: 200 while the server accepts
//! connections, 503 with `Retry-After` and the reasons while it refuses them (a
//! `SeveringProxy` plays the outage; the real server never stops), 200 again when it is back.
//! No token is asked, and the body carries no password, database, tag or tenant.

mod common;

use std::time::Duration;

use axum::routing::get as route_get;
use axum::{Extension, Router};
use diesel_async::AsyncPgConnection;
use tenantpool_axum::readiness::{method_router, ReadinessChecks};
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{GracefulShutdown, TenantConn, TenantLayer, TenantRegistry};
use tenantpool_core::{DatabaseUrl, Registry, Settings, StaticDirectory, TenantId, TenantTarget};
use tenantpool_testkit::{Error, Fixture, PgServer, SeveringProxy, TestServer};
use tower::Layer;

use common::{get, serve_with, wait_until};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_with_reasons_while_postgres_refuses_connections_and_200_when_back(
) -> Result<(), Error> {
    let Some(t) = Fixture::<PgServer>::start("tp_readyz_axum", 4).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_readyz_axum").await?;
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
    let router = Router::new()
        .route("/readyz", method_router(ready))
        .route(
            "/ping",
            route_get(|c: TenantConn<AsyncPgConnection>| async move { c.tenant().to_string() }),
        )
        .layer(Extension(TenantRegistry::new(registry.clone())));
    let app = TenantLayer::new(resolver).layer(router);
    let running = serve_with(
        app,
        GracefulShutdown::new(Duration::from_secs(5)).registry(registry.clone()),
    )
    .await;
    let addr = running.addr;
    let readyz = || get(addr, "/readyz", &[]);

    // Nothing started yet: ready, with no server to report on.
    let reply = readyz().await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!reply.headers.contains_key("retry-after"));
    let json = reply.json();
    assert_eq!(json["ready"], true);
    assert_eq!(json["servers"].as_array().unwrap().len(), 0);

    assert_eq!(
        get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await.status,
        200
    );
    let reply = readyz().await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["servers"][0]["server"], server.as_str());
    assert_eq!(json["servers"][0]["ready"], true);
    assert_eq!(json["reasons"].as_array().unwrap().len(), 0);

    // The server goes away.
    proxy.refuse_new();
    proxy.sever_existing();
    let (reply, waited) =
        wait_until(Duration::from_secs(5), readyz, |reply| reply.status == 503).await;
    assert_eq!(
        reply.status, 503,
        "still {} after {waited:?}: {}",
        reply.status, reply.body
    );
    assert_eq!(reply.headers["retry-after"], "1");
    let json = reply.json();
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
        assert!(
            !reply.body.contains(secret),
            "{secret:?} in the body: {}",
            reply.body
        );
    }

    // Back.
    proxy.accept_new();
    let (reply, waited) =
        wait_until(Duration::from_secs(5), readyz, |reply| reply.status == 200).await;
    assert_eq!(
        reply.status, 200,
        "still {} after {waited:?}: {}",
        reply.status, reply.body
    );
    assert!(!reply.headers.contains_key("retry-after"));

    running.stop().await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
