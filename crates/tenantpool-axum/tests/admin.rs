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
    // acme holds two connections of the primary.
    let acme = tenantpool_core::TenantId::parse("acme").unwrap();
    let held = (primary.get(&acme).await, primary.get(&acme).await);
    let bearer = format!("Bearer {TOKEN}");
    let url = |key: &str| format!("/_tenantpool/stats?tenant={key}");

    let reply = get(server.addr, &url("acme"), &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
    let mut replies = Vec::new();
    for key in ["acme", "Not_A_Key", "globex"] {
        let reply = get(server.addr, &url(key), &[("Authorization", &bearer)]).await;
        replies.push((reply.status, reply.json()));
    }
    // The bodies are AdminStats' answers (tested in tenantpool-resolve).
    let statuses: Vec<u16> = replies.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 400, 404], "{replies:?}");
    assert_eq!(replies[0].1["primary"]["in_use"], 2);
    assert_eq!(replies[2].1["tenant"], "globex");
    drop(held);
    server.stop().await;
}

#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_from_the_config_need_the_token_and_name_the_registry() {
    // Installs the global recorder first: pools register their histograms when built. The
    // other tests of the binary record on the same server: the histogram is only present.
    let admin = Admin::from_config(&load(&format!(
        "[admin]\nenabled = true\nmetrics = true\ntoken = \"{TOKEN}\""
    )))
    .unwrap()
    .expect("enabled");
    let registry = registry();
    let acme = tenantpool_core::TenantId::parse("acme").unwrap();
    drop(registry.get(&acme).await.unwrap());
    let admin = admin.registry("primary", registry);
    let server = serve(Router::new().nest(admin.path(), admin.router())).await;

    let reply = get(server.addr, "/_tenantpool/metrics", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
    let bearer = format!("Bearer {TOKEN}");
    let reply = get(
        server.addr,
        "/_tenantpool/metrics",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.headers["content-type"].starts_with("text/plain"));
    assert!(
        reply
            .body
            .contains("tenantpool_checkouts_total{registry=\"primary\",backend=\"sqlite\"} 1"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(
        "tenantpool_checkout_wait_seconds_count{server=\"sqlite://local\",backend=\"sqlite\"} "
    ));
    server.stop().await;
}

#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn there_is_no_metrics_route_unless_asked_for() {
    let admin = Admin::new("/_tenantpool", TOKEN)
        .unwrap()
        .registry("primary", registry());
    let server = serve(Router::new().nest(admin.path(), admin.router())).await;
    let bearer = format!("Bearer {TOKEN}");
    let reply = get(
        server.addr,
        "/_tenantpool/metrics",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(reply.status, 404);
    server.stop().await;
}
