//! Tracing: a request span that carries the tenant.
//!
//! tower-http's [`TraceLayer`](tower_http::trace::TraceLayer) opens one span per request. A
//! field must be declared when a span is created, or recording it later is silently dropped;
//! the default span has no `tenant` field. [`TenantMakeSpan`] declares `tenant` (empty) next
//! to the method and the URI, and the [`TenantLayer`](crate::TenantLayer), running inside
//! that span, records it once the tenant is known, so every event of the request, the core's
//! pool events included, can be filtered by tenant.

use axum::http::Request;
use tower_http::trace::MakeSpan;
use tracing::Span;

/// A [`MakeSpan`] whose request span (`request`, at INFO) has `method`, `uri` and an empty
/// `tenant` field.
///
/// ```
/// use axum::{routing::get, Router};
/// use tenantpool_axum::{resolve::Resolver, TenantLayer, TenantMakeSpan};
/// use tower::ServiceBuilder;
/// use tower_http::trace::TraceLayer;
///
/// let resolver = Resolver::builder().header("X-Tenant-Id").build()?;
/// let router: Router = Router::new().route("/", get(|| async { "hi" }));
/// // TraceLayer outermost, so that the span exists when TenantLayer records the tenant.
/// let app = ServiceBuilder::new()
///     .layer(TraceLayer::new_for_http().make_span_with(TenantMakeSpan))
///     .layer(TenantLayer::new(resolver))
///     .service(router);
/// # Ok::<(), tenantpool_axum::SetupError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantMakeSpan;

impl<B> MakeSpan<B> for TenantMakeSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            uri = %request.uri(),
            tenant = tracing::field::Empty,
        )
    }
}
