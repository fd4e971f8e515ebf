//! [`TenantLayer`]: the tower layer that resolves each request's tenant and puts it into the
//! request extensions.
//!
//! The inner service (the handler) runs inside [`tenantpool_core::with_tenant`] for the
//! resolved tenant, as under the actix adapter, so code deep in it (and tasks it starts with
//! `tenantpool_core::spawn`) finds the tenant with `current_tenant()` and a connection with
//! `Registry::get_current`.

use std::task::{Context, Poll};

use axum::http::uri::{PathAndQuery, Uri};
use axum::http::Request;
use axum::response::Response;
use futures_util::future::{ready, Either, Ready};
use tenantpool_core::{with_tenant, Backend, WithTenant};
use tenantpool_resolve::{ErrorReply, ResolveError, Resolver, Role};
use tower::{Layer, Service};

use crate::axum_request::AxumRequest;
use crate::extract::{RequestTenant, Tenant, TenantRegistry};
use crate::registries::Registries;
use crate::reply::reply_response;

/// A tower layer that resolves the tenant of each request.
///
/// [`TenantLayer`] runs a [`Resolver`] on every request it wraps:
///
/// - exempt path (`/healthz`): passed on without a tenant;
/// - tenant found: a [`Tenant`] goes into the request extensions, the inner service runs
///   in the tenant's context (`tenantpool_core::current_tenant()`), the current span's
///   `tenant` field is recorded (the request span of [`TraceLayer`](tower_http::trace::TraceLayer)
///   made with [`TenantMakeSpan`](crate::TenantMakeSpan), when it wraps this layer), and for
///   the path source with stripping on, `/t/acme/notes` is routed as `/notes`;
/// - malformed host or key: `400` with the JSON error body, the handler never runs;
/// - no tenant anywhere: `400`, or passed on when the resolver is optional.
///
/// `Router::layer` runs after routing; path stripping needs the layer outside the router:
/// `TenantLayer::new(resolver).layer(router)` (or a `ServiceBuilder` around it), which is
/// what [`GracefulShutdown::serve`](crate::GracefulShutdown::serve) takes. Put `TraceLayer` outside `TenantLayer`, so that the
/// request span exists when the tenant is recorded.
///
/// ```
/// use axum::{routing::get, Router};
/// use tenantpool_axum::{resolve::Resolver, Tenant, TenantLayer};
/// use tower::Layer;
///
/// let resolver = Resolver::builder()
///     .subdomain_of("example.com")
///     .header("X-Tenant-Id")
///     .exempt("/healthz")
///     .build()?;
/// let router: Router = Router::new()
///     .route("/healthz", get(|| async { "ok" }))
///     .route("/whoami", get(|t: Tenant| async move { t.to_string() }));
/// let app = TenantLayer::new(resolver).layer(router);
/// # Ok::<(), tenantpool_axum::SetupError>(())
/// ```
#[derive(Clone)]
pub struct TenantLayer {
    resolver: Resolver,
    registries: Registries,
}

impl TenantLayer {
    /// A layer around `resolver`.
    ///
    /// ```
    /// let layer = tenantpool_axum::TenantLayer::new(
    ///     tenantpool_axum::resolve::Resolver::builder().header("X-Tenant-Id").build()?,
    /// );
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    pub fn new(resolver: Resolver) -> Self {
        Self {
            resolver,
            registries: Registries::default(),
        }
    }

    /// Hands `registry` to the extractors of every request this layer wraps:
    /// [`TenantConn<C, R>`](crate::TenantConn) and [`TenantRegistry<C, R>`] find it by its
    /// connection type and role. Call it once per registry; a second registry of the same
    /// type and role replaces the first.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tenantpool_axum::{resolve::Resolver, Replica, TenantConn, TenantLayer, TenantRegistry};
    /// use tenantpool_core::{Registry, Settings, SqliteConnection, TemplateDirectory};
    /// use tower::Layer;
    ///
    /// async fn count(conn: TenantConn<SqliteConnection>) -> String { conn.tenant().to_string() }
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = Registry::<SqliteConnection>::builder(Settings::default())
    ///     .directory(TemplateDirectory::database("sqlite://data/{tenant}.db")?)
    ///     .build()?;
    /// let router: Router = Router::new().route("/count", get(count));
    /// let app = TenantLayer::new(Resolver::builder().header("X-Tenant-Id").build()?)
    ///     .registry(TenantRegistry::new(registry))
    ///     .layer(router);
    /// # let _ = app; Ok(()) }
    /// ```
    pub fn registry<C: Backend, R: Role>(mut self, registry: TenantRegistry<C, R>) -> Self {
        self.registries = self.registries.with(registry);
        self
    }

    /// The resolver.
    ///
    /// ```
    /// # let layer = tenantpool_axum::TenantLayer::new(tenantpool_axum::resolve::Resolver::builder().build()?);
    /// assert!(layer.resolver().is_required());
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            resolver: self.resolver.clone(),
            registries: self.registries.clone(),
        }
    }
}

/// The service [`TenantLayer`] wraps around the inner one: public because the `Layer` impl
/// names it, hidden because no one else needs to.
#[doc(hidden)]
#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    resolver: Resolver,
    registries: Registries,
}

impl std::fmt::Debug for TenantLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayer")
            .field("resolver", &self.resolver)
            .field("registries", &self.registries.len())
            .finish()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for TenantService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantService")
            .field("inner", &self.inner)
            .field("resolver", &self.resolver)
            .field("registries", &self.registries.len())
            .finish()
    }
}

impl<S> TenantService<S> {
    /// What the extractors find in a request for `tenant` (`None`: no tenant needed or found).
    fn request_tenant(&self, tenant: Option<Tenant>) -> RequestTenant {
        RequestTenant {
            tenant,
            registries: self.registries.clone(),
        }
    }
}

impl<S, B> Service<Request<B>> for TenantService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        Either<Either<S::Future, WithTenant<S::Future>>, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if self.resolver.is_exempt(req.uri().path()) {
            let none = self.request_tenant(None);
            req.extensions_mut().insert(none);
            return Either::Left(Either::Left(self.inner.call(req)));
        }
        match self.resolver.resolve(&AxumRequest::new(&req)) {
            Ok(Some(found)) => {
                tracing::Span::current().record("tenant", found.tenant.as_str());
                if let Some(path) = &found.rewritten_path {
                    rewrite_path(&mut req, path);
                }
                let tenant = found.tenant.clone();
                let resolved = self.request_tenant(Some(Tenant::new(found.tenant, found.source)));
                req.extensions_mut().insert(resolved);
                let inner = self.inner.call(req);
                Either::Left(Either::Right(with_tenant(tenant, inner)))
            }
            Ok(None) if !self.resolver.is_required() => {
                let none = self.request_tenant(None);
                req.extensions_mut().insert(none);
                Either::Left(Either::Left(self.inner.call(req)))
            }
            Ok(None) => Either::Right(refuse(req.uri().path(), ResolveError::Missing)),
            Err(e) => Either::Right(refuse(req.uri().path(), e)),
        }
    }
}

fn refuse<E>(path: &str, error: ResolveError) -> Ready<Result<Response, E>> {
    tracing::debug!(error = %error, path, "tenant resolution refused the request");
    ready(Ok(reply_response(&ErrorReply::refused(&error))))
}

/// Routes the request as `path` (the part after `/t/{tenant}`).
fn rewrite_path<B>(req: &mut Request<B>, path: &str) {
    let Ok(path_and_query) = PathAndQuery::try_from(path) else {
        return;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}
