//! Micro-benchmarks of tenant resolution, in ns/op (`cargo bench --bench resolve`): what the
//! `ResolveTenant` middleware does on every request before the handler runs.
//!
//! The request is read through `ActixRequest`, the borrowed view the middleware builds.
//!
//! - `resolve/host_subdomain`: `Resolver::resolve` on `Host: acme.example.com` (host parsed
//!   strictly, base domain matched, tenant key validated).
//! - `resolve/header`: `Resolver::resolve` on `X-Tenant-Id: acme`.
//! - `resolve/host_parse`: the host parser alone (`Host::parse`).
//! - `resolve/tenant_id_parse`: the tenant key validation alone (`TenantId::parse`).

use std::hint::black_box;

use actix_web::http::header::HeaderName;
use actix_web::test::TestRequest;
use criterion::{criterion_group, criterion_main, Criterion};
use tenantpool::TenantId;
use tenantpool_actix::resolve::{ActixRequest, Host, Resolver};

fn resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");

    let by_host = Resolver::builder()
        .subdomain_of("example.com")
        .exempt("/healthz")
        .build()
        .expect("resolver");
    let req = TestRequest::default()
        .insert_header(("Host", "acme.example.com"))
        .to_http_request();
    let req = ActixRequest::new(&req);
    assert_eq!(
        by_host
            .resolve(&req)
            .expect("resolves")
            .map(|r| r.tenant.to_string()),
        Some("acme".to_string())
    );
    group.bench_function("host_subdomain", |b| {
        b.iter(|| by_host.resolve(black_box(&req)))
    });

    let by_header = Resolver::builder()
        .header("X-Tenant-Id")
        .build()
        .expect("resolver");
    let req = TestRequest::default()
        .insert_header(("X-Tenant-Id", "acme"))
        .to_http_request();
    // As the middleware does: the tenant header's name parsed once, not per request.
    let name = HeaderName::from_static("x-tenant-id");
    let req = ActixRequest::new(&req).tenant_header(Some(&name));
    group.bench_function("header", |b| b.iter(|| by_header.resolve(black_box(&req))));

    group.bench_function("host_parse", |b| {
        b.iter(|| Host::parse(black_box("acme.example.com:8080")))
    });
    group.bench_function("tenant_id_parse", |b| {
        b.iter(|| TenantId::parse(black_box("acme")))
    });
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
