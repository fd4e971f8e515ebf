//! Graceful shutdown: stop accepting, let in-flight requests finish, then close every pool.
//!
//! [`GracefulShutdown::serve`] runs `axum::serve(listener, app).with_graceful_shutdown(signal)`
//! (with the peer address available to the resolver's trusted-proxy rule), and once the
//! server has drained, shuts every registry down: idle connections close at once, and
//! connections still checked out are waited for up to the deadline. When it returns with
//! clean reports, no server-side connection is left open.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Response;
use axum::BoxError;
use tenantpool_core::{Backend, Registry, ShutdownReport};
use tokio::net::TcpListener;
use tower::Service;

type CloseFuture<'a> = Pin<Box<dyn Future<Output = ShutdownReport> + Send + 'a>>;

trait Closable: Send + Sync {
    fn close(&self, deadline: Duration) -> CloseFuture<'_>;
}

impl<C: Backend> Closable for Registry<C> {
    fn close(&self, deadline: Duration) -> CloseFuture<'_> {
        Box::pin(self.shutdown(deadline))
    }
}

/// Serves an app until a signal, then closes registries.
///
/// ```no_run
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tenantpool_axum::{resolve::Resolver, shutdown_signal, GracefulShutdown, TenantLayer, TenantRegistry};
/// use tenantpool_core::{Backend, Registry};
/// use tower::Layer;
///
/// async fn run<C: Backend>(registry: Registry<C>) -> Result<(), Box<dyn std::error::Error>> {
///     let resolver = Resolver::builder().subdomain_of("localhost").build()?;
///     let router = Router::new().route("/", get(|| async { "hi" }));
///     let app = TenantLayer::new(resolver)
///         .registry(TenantRegistry::new(registry.clone()))
///         .layer(router);
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
///     let reports = GracefulShutdown::new(Duration::from_secs(10))
///         .registry(registry)
///         .serve(listener, app, shutdown_signal())
///         .await?;
///     assert!(reports.iter().all(|r| r.clean));
///     Ok(())
/// }
/// ```
#[derive(Default)]
pub struct GracefulShutdown {
    deadline: Duration,
    registries: Vec<Box<dyn Closable>>,
}

impl GracefulShutdown {
    /// Waits up to `deadline` for checked-out connections once the server has stopped.
    ///
    /// ```
    /// let s = tenantpool_axum::GracefulShutdown::new(std::time::Duration::from_secs(5));
    /// ```
    pub fn new(deadline: Duration) -> Self {
        Self {
            deadline,
            registries: Vec::new(),
        }
    }

    /// Adds a registry to close (any connection type).
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) {
    /// let s = tenantpool_axum::GracefulShutdown::new(std::time::Duration::from_secs(5)).registry(registry);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, registry: Registry<C>) -> Self {
        self.registries.push(Box::new(registry));
        self
    }

    /// Serves `app` on `listener` until `signal` completes and in-flight requests have
    /// finished (`axum::serve(..).with_graceful_shutdown(signal)`), then shuts every registry
    /// down, in the order added, even when serving failed (the error is returned after the
    /// pools are closed). The app is any service of requests (a `Router`, a `Router` wrapped
    /// in [`TenantLayer`](crate::TenantLayer) and `TraceLayer`); it sees each peer's address
    /// as `ConnectInfo<SocketAddr>`.
    ///
    /// ```no_run
    /// # async fn f(app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let reports = tenantpool_axum::GracefulShutdown::new(std::time::Duration::from_secs(5))
    ///     .serve(listener, app, tenantpool_axum::shutdown_signal())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn serve<S, B, F>(
        self,
        listener: TcpListener,
        app: S,
        signal: F,
    ) -> std::io::Result<Vec<ShutdownReport>>
    where
        S: Service<Request, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send,
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()> + Send + 'static,
    {
        // Layers outside the router (tower-http's `TraceLayer`) change the body type; axum
        // serves its own `Body`.
        let app = tower::ServiceExt::map_response(app, |resp: Response<B>| resp.map(Body::new));
        let served = axum::serve(
            listener,
            axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
        )
        .with_graceful_shutdown(signal)
        .await;
        let reports = self.close().await;
        served.map(|()| reports)
    }

    /// Shuts every registry down now (for servers run some other way).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let reports = tenantpool_axum::GracefulShutdown::new(std::time::Duration::from_secs(5)).close().await;
    /// # }
    /// ```
    pub async fn close(self) -> Vec<ShutdownReport> {
        let mut reports = Vec::with_capacity(self.registries.len());
        for registry in &self.registries {
            let report = registry.close(self.deadline).await;
            if !report.clean {
                tracing::warn!(
                    in_use = report.in_use_at_deadline,
                    "connections were still checked out at the shutdown deadline; they close when returned"
                );
            }
            reports.push(report);
        }
        reports
    }
}

impl std::fmt::Debug for GracefulShutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GracefulShutdown")
            .field("deadline", &self.deadline)
            .field("registries", &self.registries.len())
            .finish()
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM: the usual signal for
/// [`GracefulShutdown::serve`].
///
/// ```no_run
/// # async fn f() {
/// tenantpool_axum::shutdown_signal().await;
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
