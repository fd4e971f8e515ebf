//! The resolution middleware: puts the request's [`Tenant`] into its extensions.
//!
//! The handler runs inside [`tenantpool_core::with_tenant`] for the resolved tenant, so code
//! deep in it (and tasks it starts with `tenantpool_core::spawn`) finds the tenant with
//! `current_tenant()` and a connection with `Registry::get_current`.

use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform, Url};
use actix_web::http::header::HeaderName;
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::HttpMessage;
use futures_util::future::{ready, Either, MapOk, Ready, TryFutureExt};
use tenantpool_core::{with_tenant, WithTenant};
use tracing_actix_web::RootSpan;

use crate::extract::NoTenant;
use crate::resolve::{ActixRequest, ResolveError, Resolver};
use crate::response::reply_response;
use crate::Tenant;

/// Middleware that resolves the tenant of each request.
///
/// [`ResolveTenant`] runs a [`Resolver`] on every request it wraps:
///
/// - exempt path (`/healthz`): passed on without a tenant;
/// - tenant found: a [`Tenant`] goes into the request extensions, the tracing root span's
///   `tenant` field is recorded (when [`TracingLogger`](tracing_actix_web::TracingLogger)
///   wraps it), and for the path source with stripping on, `/t/acme/notes` is routed as
///   `/notes`;
/// - malformed host or key: `400` with the JSON error body, the handler never runs;
/// - no tenant anywhere: `400` (the request did not say which tenant it is for; `404` would
///   claim that a resource is missing), or passed on when the resolver is optional.
///
/// Wrap the whole `App` with it (path stripping needs that), or only the scopes that need a
/// tenant. The last `.wrap()` is the outermost: wrap `ResolveTenant` first, then
/// `TracingLogger`, so that the root span exists when the tenant is recorded.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use tenantpool_actix::{resolve::Resolver, ResolveTenant, Tenant};
///
/// let resolver = Resolver::builder()
///     .subdomain_of("example.com")
///     .header("X-Tenant-Id")
///     .exempt("/healthz")
///     .build()?;
/// let app = App::new()
///     .wrap(ResolveTenant::new(resolver))
///     .route("/healthz", web::get().to(HttpResponse::Ok))
///     .route("/whoami", web::get().to(|t: Tenant| async move { t.to_string() }));
/// # Ok::<(), tenantpool_actix::SetupError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResolveTenant {
    resolver: Resolver,
    /// The tenant header's name, parsed once for actix's header map.
    tenant_header: Option<HeaderName>,
}

impl ResolveTenant {
    /// Middleware around `resolver`.
    ///
    /// ```
    /// let mw = tenantpool_actix::ResolveTenant::new(
    ///     tenantpool_actix::resolve::Resolver::builder().header("X-Tenant-Id").build()?,
    /// );
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn new(resolver: Resolver) -> Self {
        let tenant_header = resolver
            .tenant_header()
            .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok());
        Self {
            resolver,
            tenant_header,
        }
    }

    /// The resolver.
    ///
    /// ```
    /// # let mw = tenantpool_actix::ResolveTenant::new(tenantpool_actix::resolve::Resolver::builder().build()?);
    /// assert!(mw.resolver().is_required());
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }
}

impl<S, B> Transform<S, ServiceRequest> for ResolveTenant
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ResolveTenantService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ResolveTenantService {
            service: Rc::new(service),
            resolver: self.resolver.clone(),
            tenant_header: self.tenant_header.clone(),
        }))
    }
}

/// The service [`ResolveTenant`] wraps around the inner one: public because the `Transform`
/// impl names it, hidden because no one else needs to.
#[doc(hidden)]
#[derive(Debug)]
pub struct ResolveTenantService<S> {
    service: Rc<S>,
    resolver: Resolver,
    tenant_header: Option<HeaderName>,
}

impl<S, B> Service<ServiceRequest> for ResolveTenantService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<
        WithTenant<Forward<S::Future, B>>,
        Either<Forward<S::Future, B>, Ready<Result<Self::Response, Self::Error>>>,
    >;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if self.resolver.is_exempt(req.path()) {
            req.extensions_mut().insert(NoTenant);
            return Either::Right(Either::Left(forward(&self.service, req)));
        }
        let view = ActixRequest::new(req.request()).tenant_header(self.tenant_header.as_ref());
        match self.resolver.resolve(&view) {
            Ok(Some(found)) => {
                if let Some(span) = req.extensions().get::<RootSpan>() {
                    span.record("tenant", found.tenant.as_str());
                }
                if let Some(path) = &found.rewritten_path {
                    rewrite_path(&mut req, path);
                }
                let tenant = found.tenant.clone();
                req.extensions_mut()
                    .insert(Tenant::new(found.tenant, found.source));
                // The handler (and what it spawns with `tenantpool::spawn`) runs in the
                // tenant's context: `current_tenant()` and `Registry::get_current` work in it.
                Either::Left(with_tenant(tenant, forward(&self.service, req)))
            }
            Ok(None) if !self.resolver.is_required() => {
                req.extensions_mut().insert(NoTenant);
                Either::Right(Either::Left(forward(&self.service, req)))
            }
            Ok(None) => Either::Right(Either::Right(refuse(req, ResolveError::Missing))),
            Err(e) => Either::Right(Either::Right(refuse(req, e))),
        }
    }
}

/// The inner service's future with its body put on the left of [`EitherBody`]: a named type,
/// so that a request pays for no boxed future here.
type Forward<F, B> = MapOk<F, fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>>;

fn forward<S, B>(service: &Rc<S>, req: ServiceRequest) -> Forward<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    service
        .call(req)
        .map_ok(ServiceResponse::map_into_left_body as fn(_) -> _)
}

fn refuse<B: 'static>(
    req: ServiceRequest,
    error: ResolveError,
) -> Ready<Result<ServiceResponse<EitherBody<B>>, actix_web::Error>> {
    tracing::debug!(error = %error, path = req.path(), "tenant resolution refused the request");
    let resp = req
        .into_response(reply_response(&tenantpool_resolve::ErrorReply::refused(
            &error,
        )))
        .map_into_right_body();
    ready(Ok(resp))
}

/// Routes the request as `path` (the part after `/t/{tenant}`). Only at the top of the
/// routing tree: inside a scope the router has already consumed part of the path, and the
/// prefix is kept.
fn rewrite_path(req: &mut ServiceRequest, path: &str) {
    if req.match_info().unprocessed().len() != req.match_info().as_str().len() {
        return;
    }
    let Ok(path_and_query) = PathAndQuery::try_from(path) else {
        return;
    };
    let mut parts = req.head().uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut().set(Url::new(uri.clone()));
    req.head_mut().uri = uri;
}
