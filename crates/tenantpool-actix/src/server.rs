//! Graceful shutdown: stop serving, let in-flight requests finish, then close every pool.
//!
//! actix-web stops on SIGINT/SIGTERM (or [`ServerHandle::stop`](actix_web::dev::ServerHandle::stop)),
//! waits up to its `shutdown_timeout` (30 s by default) for in-flight requests, and only then
//! resolves the [`Server`] future. [`GracefulShutdown::run`] awaits that future and then shuts
//! every registry down: idle connections close at once, and connections still checked out
//! (a handler that outlived actix's timeout) are waited for up to the deadline. When it
//! returns with clean reports, no server-side connection is left open.

use std::time::Duration;

use actix_web::dev::Server;
use futures_util::future::LocalBoxFuture;
use tenantpool_core::{Backend, Registry, ShutdownReport};

trait Closable: Send + Sync {
    fn close(&self, deadline: Duration) -> LocalBoxFuture<'_, ShutdownReport>;
}

impl<C: Backend> Closable for Registry<C> {
    fn close(&self, deadline: Duration) -> LocalBoxFuture<'_, ShutdownReport> {
        Box::pin(self.shutdown(deadline))
    }
}

/// Runs a server to its end, then closes registries.
///
/// ```no_run
/// use std::time::Duration;
/// use actix_web::{App, HttpServer};
/// use tenantpool_actix::{GracefulShutdown, TenantRegistry};
/// use tenantpool_core::{Backend, Registry};
///
/// async fn serve<C: Backend>(registry: Registry<C>) -> std::io::Result<()> {
///     let app_registry = registry.clone();
///     let server = HttpServer::new(move || {
///         App::new().app_data(TenantRegistry::<C>::new(app_registry.clone()))
///     })
///     .bind(("127.0.0.1", 8080))?
///     .run();
///     let reports = GracefulShutdown::new(Duration::from_secs(10))
///         .registry(registry)
///         .run(server)
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
    /// let s = tenantpool_actix::GracefulShutdown::new(std::time::Duration::from_secs(5));
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
    /// let s = tenantpool_actix::GracefulShutdown::new(std::time::Duration::from_secs(5)).registry(registry);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, registry: Registry<C>) -> Self {
        self.registries.push(Box::new(registry));
        self
    }

    /// Awaits `server`, then shuts every registry down, in the order added, even when the
    /// server ended with an error (which is returned after the pools are closed).
    ///
    /// ```no_run
    /// # async fn f(server: actix_web::dev::Server) -> std::io::Result<()> {
    /// let reports = tenantpool_actix::GracefulShutdown::new(std::time::Duration::from_secs(5))
    ///     .run(server)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run(self, server: Server) -> std::io::Result<Vec<ShutdownReport>> {
        let served = server.await;
        let reports = self.close().await;
        served.map(|()| reports)
    }

    /// Shuts every registry down now (for servers run some other way).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let reports = tenantpool_actix::GracefulShutdown::new(std::time::Duration::from_secs(5)).close().await;
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
