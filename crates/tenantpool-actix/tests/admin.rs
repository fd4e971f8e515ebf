//! The admin stats scope over real HTTP: off by default, bearer token compared exactly; one
//! tenant's figures with `?tenant=`.

#[macro_use]
mod common;

use actix_web::{web, App, HttpResponse};
use tenantpool_actix::admin::{Admin, AdminConfig};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantConn, TenantRegistry};
use tenantpool_core::{Registry, Settings, SqliteConnection};

use common::{error_body, get, unique};

const TOKEN: &str = "s3cret-admin-token-0123456789";

fn registry() -> Registry<SqliteConnection> {
    let dir = std::env::temp_dir().join(unique("tpa_admin"));
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

#[actix_web::test]
async fn the_admin_scope_is_off_by_default() {
    assert!(Admin::from_config(&load("[server]\nbind = \"x\""))
        .unwrap()
        .is_none());
    let err = Admin::from_config(&load("[admin]\nenabled = true")).unwrap_err();
    assert!(err.to_string().contains("admin.token"), "{err}");
    let err = Admin::from_config(&load("[admin]\nenabled = true\ntoken = \"short\"")).unwrap_err();
    assert!(err.to_string().contains("admin.token"), "{err}");
    assert!(!format!("{:?}", load(&format!("[admin]\ntoken = \"{TOKEN}\""))).contains(TOKEN));
}

#[actix_web::test]
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
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver.clone()))
            .service(admin.scope())
            .route(
                "/ping",
                web::get().to(|c: TenantConn<SqliteConnection>| async move {
                    HttpResponse::Ok().body(c.tenant().to_string())
                }),
            )
    });
    let (status, _, _) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 200);

    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Bearer {TOKEN}x")[..]),
        Some(&format!("Basic {TOKEN}")[..]),
        Some(&TOKEN[..10]),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let (status, resp_headers, body) = get(addr, "/_tenantpool/stats", &headers).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(resp_headers.get("www-authenticate").unwrap(), "Bearer");
        assert_eq!(error_body(&body)["error"], "missing or wrong bearer token");
    }

    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get(addr, "/_tenantpool/stats", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["primary"]["backend"], "sqlite");
    assert_eq!(stats["primary"]["counters"]["tenants_started"], 1);
    assert_eq!(stats["primary"]["pools"].as_array().unwrap().len(), 1);
    assert!(stats["primary"]["counters"]["checkouts"].as_u64().unwrap() >= 1);
}

#[actix_web::test]
async fn without_the_admin_scope_the_path_is_not_served() {
    let (addr, _h) = spawn_server!(|| App::new().route("/", web::get().to(HttpResponse::Ok)));
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, _) = get(addr, "/_tenantpool/stats", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn one_tenants_figures_need_the_token_and_refuse_bad_or_idle_keys() {
    let (primary, replica) = (registry(), registry());
    let admin = Admin::new("/_tenantpool", TOKEN)
        .unwrap()
        .registry("primary", primary.clone())
        .registry("replica", replica);
    let (addr, _h) = spawn_server!(move || App::new().service(admin.scope()));
    // acme holds two connections of the primary.
    let acme = tenantpool_core::TenantId::parse("acme").unwrap();
    let held = (primary.get(&acme).await, primary.get(&acme).await);
    let bearer = format!("Bearer {TOKEN}");
    let url = |key: &str| format!("/_tenantpool/stats?tenant={key}");

    let (status, headers, _) = get(addr, &url("acme"), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    let mut replies = Vec::new();
    for key in ["acme", "Not_A_Key", "globex"] {
        let (status, _, body) = get(addr, &url(key), &[("Authorization", &bearer)]).await;
        replies.push((status, error_body(&body)));
    }
    // The bodies are AdminStats' answers (tested in tenantpool-resolve).
    let statuses: Vec<u16> = replies.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 400, 404], "{replies:?}");
    assert_eq!(replies[0].1["primary"]["in_use"], 2);
    assert_eq!(replies[2].1["tenant"], "globex");
    drop(held);
}

#[cfg(feature = "metrics")]
#[actix_web::test]
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
    let (addr, _h) = spawn_server!(move || App::new().service(admin.scope()));

    let (status, headers, _) = get(addr, "/_tenantpool/metrics", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    let bearer = format!("Bearer {TOKEN}");
    let (status, headers, body) =
        get(addr, "/_tenantpool/metrics", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        body.contains("tenantpool_checkouts_total{registry=\"primary\",backend=\"sqlite\"} 1"),
        "{body}"
    );
    assert!(body.contains(
        "tenantpool_checkout_wait_seconds_count{server=\"sqlite://local\",backend=\"sqlite\"} "
    ));
}

#[cfg(feature = "metrics")]
#[actix_web::test]
async fn there_is_no_metrics_route_unless_asked_for() {
    let admin = Admin::new("/_tenantpool", TOKEN)
        .unwrap()
        .registry("primary", registry());
    let (addr, _h) = spawn_server!(move || App::new().service(admin.scope()));
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, _) = get(addr, "/_tenantpool/metrics", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 404);
}
