//! Statuses and bodies over real HTTP: 400 malformed or missing, 404 unknown tenant, 503 with
//! `Retry-After` (a database that is down, an exhausted pool) and never a secret; exempt
//! paths, `Option<Tenant>`, and the 500s of a setup mistake. The same expectations as the
//! actix adapter's `errors` test, on axum.

mod common;

use std::time::Duration;

use axum::routing::get as route_get;
use axum::{Extension, Router};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{Replica, Tenant, TenantConn, TenantLayer, TenantRegistry};
use tenantpool_core::{
    DatabaseUrl, Registry, Settings, SqliteConnection, StaticDirectory, TenantId, TenantTarget,
};
use tower::Layer;

use common::{get, serve, unique, wait_for};

fn sqlite_registry(settings: &str) -> Registry<SqliteConnection> {
    let dir = std::env::temp_dir().join(unique("tpx_errors"));
    let mut directory = StaticDirectory::new();
    for tenant in ["acme", "globex"] {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/{tenant}.db", dir.display())).unwrap();
        directory.insert(
            TenantId::parse(tenant).unwrap(),
            TenantTarget::database(url).creating_missing(),
        );
    }
    Registry::<SqliteConnection>::builder(Settings::from_toml_str(settings).unwrap())
        .directory(directory)
        .build()
        .unwrap()
}

async fn ping(mut conn: TenantConn<SqliteConnection>) -> String {
    match diesel::sql_query("SELECT 1").execute(&mut conn).await {
        Ok(_) => conn.tenant().to_string(),
        Err(e) => e.to_string(),
    }
}

async fn hold(conn: TenantConn<SqliteConnection>) -> String {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    conn.tenant().to_string()
}

fn resolver() -> Resolver {
    Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/healthz")
        .build()
        .unwrap()
}

/// The sqlite app: `/ping`, `/hold`, `/healthz` (exempt), `/greet` (`Option<Tenant>`).
fn app(
    registry: Registry<SqliteConnection>,
    resolver: Resolver,
) -> tenantpool_axum::TenantService<Router> {
    let router = Router::new()
        .route("/ping", route_get(ping))
        .route("/hold", route_get(hold))
        .route("/healthz", route_get(|| async { "ok" }))
        .route(
            "/healthz/tenant",
            route_get(|t: Option<Tenant>| async move { format!("{t:?}") }),
        )
        .route(
            "/greet",
            route_get(|t: Option<Tenant>| async move {
                t.map_or_else(|| "hello".to_string(), |t| format!("hello, {t}"))
            }),
        )
        .layer(Extension(TenantRegistry::new(registry)));
    TenantLayer::new(resolver).layer(router)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_tenant_key_is_400_and_a_missing_one_too() {
    let server = serve(app(sqlite_registry(""), resolver())).await;
    let reply = get(server.addr, "/ping", &[("X-Tenant-Id", "acme.corp")]).await;
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid tenant key"),
        "{body}"
    );
    assert!(body["tenant"].is_null());

    let reply = get(server.addr, "/ping", &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "the request names no tenant");
    assert_eq!(reply.headers["content-type"], "application/json");

    let reply = get(
        server.addr,
        "/ping",
        &[("X-Tenant-Id", "acme"), ("X-Tenant-Id", "globex")],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"],
        "the x-tenant-id header is given more than once"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_paths_pass_without_a_tenant_and_option_tenant_sees_none() {
    let server = serve(app(sqlite_registry(""), resolver())).await;
    let reply = get(server.addr, "/healthz", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    // An exempt path is passed on without a tenant even when the request names one.
    let reply = get(server.addr, "/healthz/tenant", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "None"));
    // `/healthzz` is not under `/healthz`.
    let reply = get(server.addr, "/healthzz", &[]).await;
    assert_eq!(reply.status, 400);

    let reply = get(server.addr, "/greet", &[("X-Tenant-Id", "Globex")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello, globex"));
    server.stop().await;

    // With an optional resolver, a request naming no tenant reaches the handler.
    let optional = Resolver::builder()
        .header("X-Tenant-Id")
        .optional()
        .build()
        .unwrap();
    let server = serve(app(sqlite_registry(""), optional)).await;
    let reply = get(server.addr, "/greet", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));
    let reply = get(server.addr, "/ping", &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"],
        "this route needs a tenant, and the request names none"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tenant_is_the_registrys_404() {
    let server = serve(app(sqlite_registry(""), resolver())).await;
    let reply = get(server.addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "acme"));
    let reply = get(server.addr, "/ping", &[("X-Tenant-Id", "Nobody")]).await;
    assert_eq!(reply.status, 404);
    assert!(!reply.headers.contains_key("retry-after"));
    let body = reply.json();
    assert_eq!(body["error"], "unknown tenant \"nobody\"");
    assert_eq!(body["tenant"], "nobody");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_down_is_503_with_retry_after_and_no_secret() {
    let directory = StaticDirectory::new().with(
        TenantId::parse("down").unwrap(),
        TenantTarget::database(
            DatabaseUrl::parse("postgres://app:hunter2@127.0.0.1:1/tenant_down").unwrap(),
        ),
    );
    let registry = Registry::<AsyncPgConnection>::builder(
        Settings::from_toml_str("[pool]\nconnect_timeout = \"2s\"").unwrap(),
    )
    .directory(directory)
    .build()
    .unwrap();
    let router = Router::new()
        .route(
            "/ping",
            route_get(|mut conn: TenantConn<AsyncPgConnection>| async move {
                let n = diesel::sql_query("SELECT 1").execute(&mut conn).await;
                format!("{n:?}")
            }),
        )
        .layer(Extension(TenantRegistry::new(registry)));
    let server = serve(TenantLayer::new(resolver()).layer(router)).await;
    // The first request meets the refused connect, the second the remembered failure.
    for _ in 0..2 {
        let reply = get(server.addr, "/ping", &[("X-Tenant-Id", "down")]).await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        let retry: u64 = reply.headers["retry-after"].parse().unwrap();
        assert!(retry >= 1);
        let json = reply.json();
        assert_eq!(json["tenant"], "down");
        assert_eq!(
            json["error"],
            "the tenant's database is unavailable; retry later"
        );
        for secret in ["hunter2", "127.0.0.1", "tenant_down", "app:"] {
            assert!(
                !reply.body.contains(secret),
                "{secret} leaked: {}",
                reply.body
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_503_with_retry_after() {
    let registry = sqlite_registry("[pool]\nmax_size = 1\ncheckout_timeout = \"200ms\"");
    let stats = registry.clone();
    let server = serve(app(registry, resolver())).await;
    let addr = server.addr;
    let holder = tokio::spawn(async move { get(addr, "/hold", &[("X-Tenant-Id", "acme")]).await });
    wait_for(
        "the first request to hold the only connection",
        Duration::from_secs(10),
        || stats.stats().pools.iter().map(|p| p.in_use).sum::<usize>() == 1,
    )
    .await;
    let reply = get(addr, "/hold", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], "1");
    let json = reply.json();
    assert_eq!(json["tenant"], "acme");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no database connection became free within 200ms"),
        "{json}"
    );
    let held = holder.await.unwrap();
    assert_eq!((held.status, held.body.as_str()), (200, "acme"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_registry_is_a_500_naming_the_type() {
    let registry = sqlite_registry("");
    let router = Router::new()
        .route(
            "/replica",
            route_get(|conn: TenantConn<SqliteConnection, Replica>| async move {
                conn.tenant().to_string()
            }),
        )
        .route(
            "/registry",
            route_get(
                |r: TenantRegistry<SqliteConnection, Replica>| async move { format!("{r:?}") },
            ),
        )
        .layer(Extension(TenantRegistry::new(registry)));
    let server = serve(TenantLayer::new(resolver()).layer(router)).await;
    for path in ["/replica", "/registry"] {
        let reply = get(server.addr, path, &[("X-Tenant-Id", "acme")]).await;
        assert_eq!(reply.status, 500, "{path}: {}", reply.body);
        let message = reply.json()["error"].as_str().unwrap().to_string();
        assert!(message.starts_with("missing "), "{message}");
        assert!(message.contains("TenantRegistry<"), "{message}");
        assert!(message.contains(".registry("), "{message}");
        assert!(message.contains("Replica"), "{message}");
        assert!(message.contains("SyncConnectionWrapper"), "{message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_the_layer_is_a_500_not_a_panic() {
    let router: Router = Router::new().route(
        "/whoami",
        route_get(|t: Tenant| async move { t.to_string() }),
    );
    let server = serve(router).await;
    let reply = get(server.addr, "/whoami", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.status, 500);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("TenantLayer"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_path_prefix_is_stripped_before_routing() {
    let resolver = Resolver::builder().path_prefix("/t").build().unwrap();
    let server = serve(app(sqlite_registry(""), resolver)).await;
    let reply = get(server.addr, "/t/globex/ping", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "globex"));
    let reply = get(server.addr, "/t/no.pe/ping", &[]).await;
    assert_eq!(reply.status, 400);
    server.stop().await;
}
