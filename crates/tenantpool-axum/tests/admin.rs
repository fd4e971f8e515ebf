//! The admin stats router over real HTTP: off by default, bearer token compared exactly,
//! the same guard and the same bodies as the actix adapter; one tenant's figures with
//! `?tenant=`.

mod common;

use axum::routing::get as route_get;
use axum::{Extension, Router};
use tenantpool_axum::admin::{Admin, AdminConfig};
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{TenantConn, TenantLayer, TenantRegistry};
use tenantpool_core::{Registry, Settings, SqliteConnection};
use tower::Layer;

use common::{get, serve, unique};

const TOKEN: &str = "s3cret-admin-token-0123456789";

fn registry() -> Registry<SqliteConnection> {
    let dir = std::env::temp_dir().join(unique("tpx_admin"));
    let settings = Settings::from_toml_str(&format!(
        "[directory.template]\nurl = \"sqlite://{}/{{tenant}}.db\"\ncreate_missing = true\nallow = [\"acme\", \"globex\"]",
        dir.display()
    ))
    .unwrap();
    Registry::<SqliteConnection>::builder(settings)
        .build()
        .unwrap()
}

fn load(toml: &str) -> AdminConfig {
    let cfg = config::Config::builder()
        .add_source(config::File::from_str(toml, config::FileFormat::Toml))
        .build()
        .unwrap();
    AdminConfig::from_config(&cfg).unwrap()
}

#[test]
fn the_admin_router_is_off_by_default() {
    assert!(Admin::from_config(&load("[server]\nbind = \"x\""))
        .unwrap()
        .is_none());
    let err = Admin::from_config(&load("[admin]\nenabled = true")).unwrap_err();
    assert!(err.to_string().contains("admin.token"), "{err}");
    let err = Admin::from_config(&load("[admin]\nenabled = true\ntoken = \"short\"")).unwrap_err();
    assert!(err.to_string().contains("admin.token"), "{err}");
    assert!(!format!("{:?}", load(&format!("[admin]\ntoken = \"{TOKEN}\""))).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_need_the_bearer_token_and_show_masked_pools() {
    let registry = registry();
    let admin = Admin::from_config(&load(&format!(
        "[admin]\nenabled = true\ntoken = \"{TOKEN}\""
    )))
    .unwrap()
    .expect("enabled")
    .registry("primary", registry.clone());
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt(admin.path())
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/ping",
            route_get(|c: TenantConn<SqliteConnection>| async move { c.tenant().to_string() }),
        )
        .nest(admin.path(), admin.router())
        .layer(Extension(TenantRegistry::new(registry)));
    let server = serve(TenantLayer::new(resolver).layer(router)).await;
    let reply = get(server.addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.status, 200);

    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Bearer {TOKEN}x")[..]),
        Some(&format!("Basic {TOKEN}")[..]),
        Some(&TOKEN[..10]),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let reply = get(server.addr, "/_tenantpool/stats", &headers).await;
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        assert_eq!(reply.json()["error"], "missing or wrong bearer token");
    }
    // Two Authorization headers are refused even when one is right.
    let bearer = format!("Bearer {TOKEN}");
    let reply = get(
        server.addr,
        "/_tenantpool/stats",
        &[("Authorization", &bearer), ("Authorization", "Bearer x")],
    )
    .await;
    assert_eq!(reply.status, 401);

    let reply = get(
        server.addr,
        "/_tenantpool/stats",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stats = reply.json();
    assert_eq!(stats["primary"]["backend"], "sqlite");
    assert_eq!(stats["primary"]["counters"]["tenants_started"], 1);
    assert_eq!(stats["primary"]["pools"].as_array().unwrap().len(), 1);
    assert!(stats["primary"]["counters"]["checkouts"].as_u64().unwrap() >= 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_figures_need_the_token_and_refuse_bad_or_idle_keys() {
    let (primary, replica) = (registry(), registry());
    let admin = Admin::new("/_tenantpool", TOKEN)
        .unwrap()
        .registry("primary", primary.clone())
        .registry("replica", replica);
    let server = serve(Router::new().nest(admin.path(), admin.router())).await;
    // acme holds two connections of the primary: the start's, and one opened by a checkout.
    let acme = tenantpool_core::TenantId::parse("acme").unwrap();
    let held = (
        primary.get(&acme).await.unwrap(),
        primary.get(&acme).await.unwrap(),
    );
    let bearer = format!("Bearer {TOKEN}");
    let with_token = [("Authorization", bearer.as_str())];

    let reply = get(server.addr, "/_tenantpool/stats?tenant=acme", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    let reply = get(server.addr, "/_tenantpool/stats?tenant=acme", &with_token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let figures = reply.json();
    assert_eq!(figures["primary"]["tenant"], "acme");
    assert_eq!(figures["primary"]["in_use"], 2);
    assert_eq!(figures["primary"]["waits"], 1);
    assert_eq!(figures["primary"]["timeouts"], 0);
    assert!(figures["primary"]["started_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert!(figures["replica"].is_null(), "acme never started there");

    let reply = get(server.addr, "/_tenantpool/stats", &with_token).await;
    let top = &reply.json()["primary"]["tenants"];
    assert_eq!(top["by_in_use"][0]["tenant"], "acme");
    assert_eq!(top["by_in_use"][0]["in_use"], 2);
    assert_eq!(top["by_wait"].as_array().unwrap().len(), 1);

    let reply = get(
        server.addr,
        "/_tenantpool/stats?tenant=Not_A_Key",
        &with_token,
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid tenant key"));
    assert!(reply.json()["tenant"].is_null());

    let reply = get(server.addr, "/_tenantpool/stats?tenant=globex", &with_token).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": "tenant \"globex\" is not started in any registry", "tenant": "globex"})
    );
    drop(held);
    server.stop().await;
}
