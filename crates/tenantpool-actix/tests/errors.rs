//! Error responses over real HTTP: each status, its JSON body, `Retry-After`, and no secret.

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{Replica, ResolveTenant, Tenant, TenantConn, TenantRegistry};
use tenantpool_core::{
    DatabaseUrl, Registry, Settings, SqliteConnection, StaticDirectory, TenantId, TenantTarget,
};

use common::{error_body, get, unique, wait_for};

fn sqlite_registry(settings: &str) -> (Registry<SqliteConnection>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique("tpa_errors"));
    let mut directory = StaticDirectory::new();
    for tenant in ["acme", "globex", "frozen"] {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/{tenant}.db", dir.display())).unwrap();
        let target = TenantTarget::database(url).creating_missing();
        let target = if tenant == "frozen" {
            target.suspend()
        } else {
            target
        };
        directory.insert(TenantId::parse(tenant).unwrap(), target);
    }
    let registry =
        Registry::<SqliteConnection>::builder(Settings::from_toml_str(settings).unwrap())
            .directory(directory)
            .build()
            .unwrap();
    (registry, dir)
}

async fn ping(mut conn: TenantConn<SqliteConnection>) -> HttpResponse {
    match diesel::sql_query("SELECT 1").execute(&mut conn).await {
        Ok(_) => HttpResponse::Ok().body(conn.tenant().to_string()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn hold(conn: TenantConn<SqliteConnection>) -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    HttpResponse::Ok().body(conn.tenant().to_string())
}

fn resolver() -> Resolver {
    Resolver::builder().header("X-Tenant-Id").build().unwrap()
}

#[actix_web::test]
async fn a_malformed_tenant_key_is_400_and_a_missing_one_too() {
    let (registry, _dir) = sqlite_registry("");
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route("/ping", web::get().to(ping))
    });
    let (status, _, body) = get(addr, "/ping", &[("X-Tenant-Id", "acme.corp")]).await;
    assert_eq!(status, 400);
    let body = error_body(&body);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid tenant key"),
        "{body}"
    );
    assert!(body["tenant"].is_null());

    let (status, _, body) = get(addr, "/ping", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error_body(&body)["error"], "the request names no tenant");
}

#[actix_web::test]
async fn a_suspended_tenant_is_403_and_its_database_is_not_touched() {
    let (registry, dir) = sqlite_registry("");
    let r = registry.clone();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(r.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route("/ping", web::get().to(ping))
    });
    for _ in 0..2 {
        let (status, _, body) = get(addr, "/ping", &[("X-Tenant-Id", "frozen")]).await;
        assert_eq!(status, 403, "{body}");
        let body = error_body(&body);
        assert_eq!(body["error"], "tenant \"frozen\" is suspended");
        assert_eq!(body["tenant"], "frozen");
    }
    assert!(!dir.join("frozen.db").exists(), "its file was created");
    let stats = registry.stats();
    assert!(stats.pools.is_empty(), "a pool was built for it");
    assert_eq!(
        stats.counters.directory_lookups, 1,
        "the second request is answered without a lookup"
    );
    // The other tenants are served.
    let (status, _, body) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body.as_str()), (200, "acme"));
}

#[actix_web::test]
async fn an_unknown_tenant_is_the_registrys_404() {
    let (registry, _dir) = sqlite_registry("");
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route("/ping", web::get().to(ping))
    });
    let (status, _, body) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body.as_str()), (200, "acme"));
    let (status, headers, body) = get(addr, "/ping", &[("X-Tenant-Id", "Nobody")]).await;
    assert_eq!(status, 404);
    assert!(headers.get("retry-after").is_none());
    let body = error_body(&body);
    assert_eq!(body["error"], "unknown tenant \"nobody\"");
    assert_eq!(body["tenant"], "nobody");
}

#[actix_web::test]
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
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route(
                "/ping",
                web::get().to(|mut conn: TenantConn<AsyncPgConnection>| async move {
                    let n = diesel::sql_query("SELECT 1").execute(&mut conn).await;
                    HttpResponse::Ok().body(format!("{n:?}"))
                }),
            )
    });
    // The first request meets the refused connect, the second the remembered failure.
    for _ in 0..2 {
        let (status, headers, body) = get(addr, "/ping", &[("X-Tenant-Id", "down")]).await;
        assert_eq!(status, 503, "{body}");
        let retry: u64 = headers
            .get("retry-after")
            .expect("Retry-After on 503")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        let json = error_body(&body);
        assert_eq!(json["tenant"], "down");
        assert_eq!(
            json["error"],
            "the tenant's database is unavailable; retry later"
        );
        for secret in ["hunter2", "127.0.0.1", "tenant_down", "app:"] {
            assert!(!body.contains(secret), "{secret} leaked: {body}");
        }
    }
}

/// A certificate that fails its check (here: signed by a root the URL does not trust) is a
/// 503 naming the tenant, with `Retry-After`, and no secret. Needs `.ci/tls-setup`.
#[actix_web::test]
async fn a_certificate_that_fails_its_check_is_503_naming_the_tenant_and_no_secret() {
    let wrong_ca = match std::env::var("TENANTPOOL_TEST_TLS_DIR") {
        Ok(dir) if !dir.is_empty() => format!("{dir}/wrong-ca.pem"),
        _ => {
            tenantpool_testkit::unavailable(
                "the TLS test material (TENANTPOOL_TEST_TLS_DIR, made by .ci/tls-setup)",
                &"the variable is not set",
            );
            return;
        }
    };
    let base = std::env::var("TENANTPOOL_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    let host = base.rsplit_once('@').map_or(base.as_str(), |(_, h)| h);
    let url = format!(
        "postgres://app:hunter2@{host}/postgres?sslmode=verify-full&sslrootcert={wrong_ca}"
    );
    let directory = StaticDirectory::new().with(
        TenantId::parse("acme").unwrap(),
        TenantTarget::database(DatabaseUrl::parse(&url).unwrap()),
    );
    let registry = Registry::<AsyncPgConnection>::builder(Settings::default())
        .directory(directory)
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route(
                "/ping",
                web::get().to(|mut conn: TenantConn<AsyncPgConnection>| async move {
                    let n = diesel::sql_query("SELECT 1").execute(&mut conn).await;
                    HttpResponse::Ok().body(format!("{n:?}"))
                }),
            )
    });
    // The first request meets the handshake, the second the remembered failure.
    for _ in 0..2 {
        let (status, headers, body) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
        assert_eq!(status, 503, "{body}");
        assert!(headers.get("retry-after").is_some(), "no Retry-After");
        let json = error_body(&body);
        assert_eq!(json["tenant"], "acme");
        assert!(
            json["error"].as_str().unwrap_or("").contains("TLS"),
            "{body}"
        );
        for secret in ["hunter2", "app:", "wrong-ca", "BEGIN"] {
            assert!(!body.contains(secret), "{secret} leaked: {body}");
        }
    }
}

#[actix_web::test]
async fn an_exhausted_pool_is_503_with_retry_after() {
    let (registry, _dir) = sqlite_registry("[pool]\nmax_size = 1\ncheckout_timeout = \"200ms\"");
    let stats = registry.clone();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route("/hold", web::get().to(hold))
    });
    let holder =
        actix_web::rt::spawn(async move { get(addr, "/hold", &[("X-Tenant-Id", "acme")]).await });
    wait_for(
        "the first request to hold the only connection",
        Duration::from_secs(10),
        || stats.stats().pools.iter().map(|p| p.in_use).sum::<usize>() == 1,
    )
    .await;
    let (status, headers, body) = get(addr, "/hold", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let json = error_body(&body);
    assert_eq!(json["tenant"], "acme");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no database connection became free within 200ms"),
        "{json}"
    );
    let (status, _, body) = holder.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "acme"));
}

#[actix_web::test]
async fn missing_app_data_is_a_500_naming_the_type() {
    let (registry, _dir) = sqlite_registry("");
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route(
                "/replica",
                web::get().to(|conn: TenantConn<SqliteConnection, Replica>| async move {
                    HttpResponse::Ok().body(conn.tenant().to_string())
                }),
            )
            .route(
                "/registry",
                web::get().to(|r: TenantRegistry<SqliteConnection, Replica>| async move {
                    HttpResponse::Ok().body(format!("{r:?}"))
                }),
            )
    });
    for path in ["/replica", "/registry"] {
        let (status, _, body) = get(addr, path, &[("X-Tenant-Id", "acme")]).await;
        assert_eq!(status, 500, "{path}: {body}");
        let message = error_body(&body)["error"].as_str().unwrap().to_string();
        assert!(message.contains("missing app data"), "{message}");
        assert!(message.contains("TenantRegistry<"), "{message}");
        assert!(message.contains("Replica"), "{message}");
        assert!(message.contains("SyncConnectionWrapper"), "{message}");
    }
}

#[actix_web::test]
async fn a_route_without_the_middleware_is_a_500_not_a_panic() {
    let (addr, _h) = spawn_server!(|| {
        App::new().route(
            "/whoami",
            web::get().to(|t: Tenant| async move { t.to_string() }),
        )
    });
    let (status, _, body) = get(addr, "/whoami", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 500);
    assert!(error_body(&body)["error"]
        .as_str()
        .unwrap()
        .contains("ResolveTenant"));
}

async fn failing_hook(
    _tenant: TenantId,
    _conn: tenantpool_core::PooledConnection<SqliteConnection>,
) -> Result<(), tenantpool_core::BoxError> {
    Err("migration 7 failed: secret=s3cr3t".into())
}

#[actix_web::test]
async fn a_failing_start_hook_is_a_500_that_keeps_its_details_in_the_log() {
    let dir = std::env::temp_dir().join(unique("tpa_hook"));
    let directory = StaticDirectory::new().with(
        TenantId::parse("acme").unwrap(),
        TenantTarget::database(
            DatabaseUrl::parse(&format!("sqlite://{}/acme.db", dir.display())).unwrap(),
        )
        .creating_missing(),
    );
    let registry = Registry::<SqliteConnection>::builder(Settings::default())
        .directory(directory)
        .on_tenant_start(failing_hook)
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(registry.clone()))
            .wrap(ResolveTenant::new(resolver()))
            .route("/ping", web::get().to(ping))
    });
    let (status, headers, body) = get(addr, "/ping", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 500);
    assert!(headers.get("retry-after").is_none());
    let json = error_body(&body);
    assert_eq!(json["tenant"], "acme");
    assert!(!body.contains("s3cr3t"), "{body}");
}
