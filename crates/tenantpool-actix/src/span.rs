//! Tracing: a root span per request that carries the tenant.
//!
//! tracing-actix-web's [`TracingLogger`](tracing_actix_web::TracingLogger) opens one root span
//! per request. A field must be declared when a span is created, or recording it later is
//! silently dropped; the default root span has no `tenant` field. [`TenantRootSpan`] declares
//! `tenant` (empty) on top of the default fields, and the [`ResolveTenant`](crate::ResolveTenant)
//! middleware records it once the tenant is known, so every event of the request, the core's
//! pool events included, can be filtered by tenant.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::Error;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// A [`RootSpanBuilder`] whose root span has a `tenant` field.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use tenantpool_actix::{resolve::Resolver, ResolveTenant, TenantRootSpan};
/// use tracing_actix_web::TracingLogger;
///
/// let resolver = Resolver::builder().header("X-Tenant-Id").build()?;
/// let app = App::new()
///     .wrap(ResolveTenant::new(resolver))                   // inner: records `tenant`
///     .wrap(TracingLogger::<TenantRootSpan>::new())         // outer: opens the span
///     .route("/", web::get().to(HttpResponse::Ok));
/// # Ok::<(), tenantpool_actix::SetupError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantRootSpan;

impl RootSpanBuilder for TenantRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, tenant = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
