//! Tenant resolution over real HTTP: every source, the trusted-proxy rule, exempt paths,
//! configuration, and hostile hosts.

#[macro_use]
mod common;

use actix_web::{web, App, HttpResponse};
use tenantpool_actix::resolve::{ResolveConfig, ResolveError, Resolver, ResolverBuilder};
use tenantpool_actix::{ResolveTenant, Tenant};
use tenantpool_core::TenantId;

use common::{error_body, get, raw_status};

async fn whoami(tenant: Tenant) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", tenant, tenant.source()))
}

fn app(
    resolver: Resolver,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(ResolveTenant::new(resolver))
        .route("/whoami", web::get().to(whoami))
        .route("/", web::get().to(whoami))
        .route(
            "/healthz",
            web::get().to(|| async { HttpResponse::Ok().body("ok") }),
        )
}

fn full_resolver() -> ResolverBuilder {
    Resolver::builder()
        .subdomain_of("example.com")
        .domain("notes.acme-corp.com", "acme")
        .header("X-Tenant-Id")
        .path_prefix("/t")
        .exempt("/healthz")
}

#[actix_web::test]
async fn subdomain_source_strips_the_port_folds_case_and_handles_a_trailing_dot() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    for host in [
        "acme.example.com",
        "ACME.Example.Com:8080",
        "acme.example.com.",
        "acme.example.com.:1",
    ] {
        let (status, _, body) = get(addr, "/whoami", &[("Host", host)]).await;
        assert_eq!((status, body.as_str()), (200, "acme subdomain"), "{host}");
    }
}

#[actix_web::test]
async fn reserved_names_apex_ip_and_foreign_hosts_are_not_tenants() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    for host in [
        "www.example.com",
        "api.example.com",
        "example.com",
        "127.0.0.1:8080",
        "[::1]:8080",
        "evil.com",
        "acme.example.com.evil.com",
    ] {
        // Not a tenant host: the next source (the header) decides.
        let (status, _, body) = get(
            addr,
            "/whoami",
            &[("Host", host), ("X-Tenant-Id", "globex")],
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "globex header"), "{host}");
        // And with no other source, the request names no tenant: 400.
        let (status, _, body) = get(addr, "/whoami", &[("Host", host)]).await;
        assert_eq!(status, 400, "{host}: {body}");
        let body = error_body(&body);
        assert_eq!(body["error"], "the request names no tenant");
        assert!(body["tenant"].is_null());
    }
}

#[actix_web::test]
async fn nested_punycode_and_invalid_subdomains_are_refused_with_400() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    for host in [
        "a.b.example.com",
        "xn--cme-8cd.example.com",
        "acme.example.com@evil.com",
        "a..example.com",
        "acme.example.com:99999",
        "acme.example.com:",
        "-acme.example.com",
        "acme_corp.example.com",
        &format!("{}.example.com", "a".repeat(64)),
    ] {
        // A malformed host is refused even when another source could answer.
        let (status, _, body) = get(
            addr,
            "/whoami",
            &[("Host", host), ("X-Tenant-Id", "globex")],
        )
        .await;
        assert_eq!(status, 400, "{host}: {body}");
        let body = error_body(&body);
        assert!(body["tenant"].is_null(), "{host}");
    }
}

#[actix_web::test]
async fn hostile_raw_hosts_get_400_and_the_server_keeps_serving() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let hostile: &[&[u8]] = &[
        b"acme.example.com\x00.evil.com",
        b"acme.example.com\x01",
        b"\xd0\xb0cme.example.com",
        b"acme.example.com\xff",
        b"..",
        b"[::1",
        b"[::1]:80:80",
        b"acme.example.com:-1",
        b"",
        b" ",
        b"acme.example.com/../evil",
        b"%61cme.example.com",
    ];
    for host in hostile {
        let mut request = b"GET /whoami HTTP/1.1\r\nConnection: close\r\nHost: ".to_vec();
        request.extend_from_slice(host);
        request.extend_from_slice(b"\r\n\r\n");
        let status = raw_status(addr, &request).await;
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(host));
    }
    // Two Host headers: refused.
    let status = raw_status(
        addr,
        b"GET /whoami HTTP/1.1\r\nConnection: close\r\nHost: acme.example.com\r\nHost: globex.example.com\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = get(addr, "/whoami", &[("Host", "acme.example.com")]).await;
    assert_eq!((status, body.as_str()), (200, "acme subdomain"));
}

#[actix_web::test]
async fn custom_domain_map_resolves_whole_hosts() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let (status, _, body) = get(addr, "/whoami", &[("Host", "Notes.Acme-Corp.com:443")]).await;
    assert_eq!((status, body.as_str()), (200, "acme domain"));
    let (status, _, _) = get(addr, "/whoami", &[("Host", "other.acme-corp.com")]).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn keys_naming_system_databases_are_refused_with_400_from_every_source() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    for key in tenantpool_core::RESERVED_TENANT_IDS {
        let upper = key.to_ascii_uppercase();
        let host = format!("{upper}.example.com");
        for headers in [
            vec![("Host", host.as_str())],
            vec![("Host", "localhost"), ("X-Tenant-Id", upper.as_str())],
        ] {
            let (status, _, body) = get(addr, "/whoami", &headers).await;
            assert_eq!(status, 400, "{headers:?}: {body}");
            let body = error_body(&body);
            assert!(body["tenant"].is_null(), "{headers:?}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("reserved"),
                "{headers:?}: {body}"
            );
        }
    }
}

#[actix_web::test]
async fn header_source_validates_the_key() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let (status, _, body) = get(
        addr,
        "/whoami",
        &[("Host", "localhost"), ("X-Tenant-Id", " Globex ")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "globex header"));
    let (status, _, body) = get(
        addr,
        "/whoami",
        &[("Host", "localhost"), ("X-Tenant-Id", "bad_key")],
    )
    .await;
    assert_eq!(status, 400);
    let body = error_body(&body);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalid tenant key in the header"),
        "{body}"
    );
    let status = raw_status(
        addr,
        b"GET /whoami HTTP/1.1\r\nConnection: close\r\nHost: localhost\r\nX-Tenant-Id: a\r\nX-Tenant-Id: b\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn path_prefix_source_strips_the_prefix_for_routing() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let (status, _, body) = get(addr, "/t/Acme/whoami?x=1", &[("Host", "localhost")]).await;
    assert_eq!((status, body.as_str()), (200, "acme path"));
    let (status, _, body) = get(addr, "/t/globex", &[("Host", "localhost")]).await;
    assert_eq!((status, body.as_str()), (200, "globex path"));
    for bad in ["/t/bad_key/whoami", "/t//whoami", "/t", "/t/%61cme/whoami"] {
        let (status, _, body) = get(addr, bad, &[("Host", "localhost")]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // `/tx/...` is not the prefix: no tenant.
    let (status, _, _) = get(addr, "/tx/acme/whoami", &[("Host", "localhost")]).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn path_prefix_can_be_kept_for_a_tenant_scope() {
    let resolver = Resolver::builder()
        .path_prefix("/t")
        .keep_path_prefix()
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .wrap(ResolveTenant::new(resolver.clone()))
            .service(web::scope("/t/{tenant}").route("/whoami", web::get().to(whoami)))
    });
    let (status, _, body) = get(addr, "/t/acme/whoami", &[]).await;
    assert_eq!((status, body.as_str()), (200, "acme path"));
}

#[actix_web::test]
async fn a_closure_source_finds_or_refuses() {
    let resolver = Resolver::builder()
        .custom("query", |req| {
            match req.query_string().strip_prefix("tenant=") {
                Some("forbidden") => Err(ResolveError::custom("that tenant is not served here")),
                Some(raw) => TenantId::parse(raw)
                    .map(Some)
                    .map_err(|e| ResolveError::custom(e.to_string())),
                None => Ok(None),
            }
        })
        .header("X-Tenant-Id")
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let (status, _, body) = get(addr, "/whoami?tenant=initech", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!((status, body.as_str()), (200, "initech query"));
    let (status, _, body) = get(addr, "/whoami", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!((status, body.as_str()), (200, "globex header"));
    let (status, _, body) = get(addr, "/whoami?tenant=forbidden", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error_body(&body)["error"], "that tenant is not served here");
}

#[actix_web::test]
async fn forwarded_hosts_are_honoured_only_from_trusted_proxies() {
    // The test client connects from 127.0.0.1: trusted by one server, not by the other.
    let trusting = full_resolver().trust_proxy("127.0.0.0/8").build().unwrap();
    let (trusted, _h1) = spawn_server!(move || app(trusting.clone()));
    let wary = full_resolver()
        .trust_proxy("10.0.0.0/8")
        .trust_proxy("::1")
        .build()
        .unwrap();
    let (untrusted, _h2) = spawn_server!(move || app(wary.clone()));

    let xfh = [
        ("Host", "acme.example.com"),
        ("X-Forwarded-Host", "evil.example.com, globex.example.com"),
    ];
    let fwd = [
        ("Host", "acme.example.com"),
        (
            "Forwarded",
            "host=evil.example.com, for=10.1.1.1;host=\"initech.example.com:443\"",
        ),
    ];

    let (status, _, body) = get(trusted, "/whoami", &xfh).await;
    assert_eq!((status, body.as_str()), (200, "globex subdomain"));
    let (status, _, body) = get(trusted, "/whoami", &fwd).await;
    assert_eq!((status, body.as_str()), (200, "initech subdomain"));
    let (status, _, _) = get(
        trusted,
        "/whoami",
        &[
            ("Host", "acme.example.com"),
            ("X-Forwarded-Host", "a.b.example.com"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = get(
        trusted,
        "/whoami",
        &[
            ("Host", "acme.example.com"),
            ("Forwarded", "host=\"unterminated"),
        ],
    )
    .await;
    assert_eq!(status, 400);

    for headers in [&xfh, &fwd] {
        let (status, _, body) = get(untrusted, "/whoami", headers).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "acme subdomain"),
            "{headers:?}"
        );
    }
}

#[actix_web::test]
async fn exempt_paths_need_no_tenant() {
    let resolver = full_resolver().build().unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    let (status, _, body) = get(addr, "/healthz", &[("Host", "localhost")]).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Exempt means "no tenant needed", not "malformed hosts welcome": still no resolution.
    let (status, _, _) = get(addr, "/healthz", &[("Host", "a.b.example.com")]).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn optional_resolution_lets_the_extractor_refuse() {
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .optional()
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .wrap(ResolveTenant::new(resolver.clone()))
            .route("/whoami", web::get().to(whoami))
            .route(
                "/maybe",
                web::get().to(|t: Option<Tenant>| async move {
                    HttpResponse::Ok().body(t.map_or("nobody".to_string(), |t| t.to_string()))
                }),
            )
    });
    let (status, _, body) = get(addr, "/maybe", &[]).await;
    assert_eq!((status, body.as_str()), (200, "nobody"));
    let (status, _, body) = get(addr, "/whoami", &[]).await;
    assert_eq!(status, 400);
    assert!(error_body(&body)["error"]
        .as_str()
        .unwrap()
        .contains("needs a tenant"));
}

#[actix_web::test]
async fn the_resolve_section_configures_sources_and_their_order() {
    let cfg = config::Config::builder()
        .add_source(config::File::from_str(
            r#"
            [pool]
            max_size = 2

            [resolve]
            sources = ["header", "subdomain", "jwt"]
            base_domains = ["example.com", "eu.example.com"]
            reserved = ["www"]
            header = "X-Tenant"
            trusted_proxies = ["127.0.0.1"]
            exempt = ["/healthz"]
            "#,
            config::FileFormat::Toml,
        ))
        .build()
        .unwrap();
    let section = ResolveConfig::from_config(&cfg).unwrap();
    let resolver = ResolverBuilder::from_config(&section)
        .unwrap()
        .custom("jwt", |req| {
            Ok(req
                .headers()
                .get("x-jwt-tenant")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| TenantId::parse(v).ok()))
        })
        .build()
        .unwrap();
    let (addr, _h) = spawn_server!(move || app(resolver.clone()));
    // Header first, then subdomain.
    let (_, _, body) = get(
        addr,
        "/whoami",
        &[("Host", "acme.example.com"), ("X-Tenant", "globex")],
    )
    .await;
    assert_eq!(body, "globex header");
    // The longest base domain wins; `api` is no longer reserved.
    let (_, _, body) = get(addr, "/whoami", &[("Host", "acme.eu.example.com")]).await;
    assert_eq!(body, "acme subdomain");
    let (_, _, body) = get(addr, "/whoami", &[("Host", "api.example.com")]).await;
    assert_eq!(body, "api subdomain");
    let (_, _, body) = get(
        addr,
        "/whoami",
        &[("Host", "www.example.com"), ("X-Jwt-Tenant", "initech")],
    )
    .await;
    assert_eq!(body, "initech jwt");

    // Misconfigurations fail at startup with the setting's name.
    for (toml, setting) in [
        ("[resolve]\nsources = [\"cookie\"]", "resolve.sources"),
        ("[resolve]\nsources = [\"header\"]", "resolve.sources"),
        (
            "[resolve]\nbase_domains = [\"127.0.0.1\"]",
            "resolve.base_domains",
        ),
        (
            "[resolve]\ntrusted_proxies = [\"10.0.0.0/33\"]",
            "resolve.trusted_proxies",
        ),
        ("[resolve]\npath_prefix = \"t/\"", "resolve.path_prefix"),
        (
            "[resolve.domains]\n\"x.com\" = \"bad_key\"",
            "resolve.domains",
        ),
    ] {
        let cfg = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap();
        let err = ResolveConfig::from_config(&cfg)
            .and_then(|c| Resolver::from_config(&c))
            .unwrap_err();
        assert!(err.to_string().contains(setting), "{toml}: {err}");
    }
    let cfg = config::Config::builder()
        .add_source(config::File::from_str(
            "[resolve]\nbase_domain = \"typo\"",
            config::FileFormat::Toml,
        ))
        .build()
        .unwrap();
    assert!(ResolveConfig::from_config(&cfg).is_err());
}
