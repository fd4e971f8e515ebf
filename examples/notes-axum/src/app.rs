//! Wiring: configuration → registry → axum router → graceful shutdown, as the actix app of
//! `tenantpool-notes` does it.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection};
use tenantpool::{IoRuntime, Registry, Settings, ShutdownReport, SqliteConnection, TenantInit};
use tenantpool_axum::admin::{Admin, AdminConfig};
use tenantpool_axum::readiness::{self, ReadinessChecks};
use tenantpool_axum::resolve::{ResolveConfig, Resolver, ResolverBuilder};
use tenantpool_axum::{
    GracefulShutdown, TenantLayer, TenantMakeSpan, TenantRegistry, TenantService,
};
use tenantpool_notes::{
    BackendChoice, NotesError, NotesStore, ServerConfig, ServerMigrations, SqliteMigrations,
};
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::trace::{Trace, TraceLayer};

use crate::routes;

/// The app as served: the request span outermost, then tenant resolution, then the router.
type App = Trace<
    TenantService<Router>,
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    TenantMakeSpan,
>;

/// A bound, not yet running notes server.
///
/// ```no_run
/// # async fn f(config: config::Config) -> Result<(), tenantpool_notes::NotesError> {
/// let notes = tenantpool_notes_axum::start(&config).await?;
/// let addr = notes.addr();
/// let reports = notes.run(tenantpool_axum::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub struct NotesAxum {
    addr: SocketAddr,
    listener: TcpListener,
    app: App,
    shutdown: GracefulShutdown,
}

impl std::fmt::Debug for NotesAxum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotesAxum")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl NotesAxum {
    /// The address the server listens on.
    ///
    /// ```no_run
    /// # fn f(notes: tenantpool_notes_axum::NotesAxum) {
    /// println!("http://{}", notes.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `signal` completes, lets in-flight requests finish, then closes every
    /// pool.
    ///
    /// ```no_run
    /// # async fn f(notes: tenantpool_notes_axum::NotesAxum) -> std::io::Result<()> {
    /// let reports = notes.run(tenantpool_axum::shutdown_signal()).await?;
    /// assert!(reports.iter().all(|r| r.clean));
    /// # Ok(()) }
    /// ```
    pub async fn run<F>(self, signal: F) -> std::io::Result<Vec<ShutdownReport>>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown.serve(self.listener, self.app, signal).await
    }
}

/// Builds the registry for the configured backend and binds the listener.
///
/// ```no_run
/// # async fn f() -> Result<(), tenantpool_notes::NotesError> {
/// let notes = tenantpool_notes_axum::start(&tenantpool_notes::load_config(None)?).await?;
/// # Ok(()) }
/// ```
pub async fn start(config: &config::Config) -> Result<NotesAxum, NotesError> {
    let server = ServerConfig::from_config(config)?;
    let settings = Settings::from_config(config)?;
    let resolver = ResolverBuilder::from_config(&ResolveConfig::from_config(config)?)?.build()?;
    let admin = Admin::from_config(&AdminConfig::from_config(config)?)?;
    let listener = TcpListener::bind(server.bind).await?;
    match server.backend {
        BackendChoice::Sqlite => build::<SqliteConnection>(
            listener,
            server,
            settings,
            resolver,
            admin,
            SqliteMigrations,
        ),
        BackendChoice::Postgres => build::<AsyncPgConnection>(
            listener,
            server,
            settings,
            resolver,
            admin,
            ServerMigrations,
        ),
        BackendChoice::Mysql => build::<AsyncMysqlConnection>(
            listener,
            server,
            settings,
            resolver,
            admin,
            ServerMigrations,
        ),
    }
}

fn build<C: NotesStore>(
    listener: TcpListener,
    server: ServerConfig,
    settings: Settings,
    resolver: Resolver,
    admin: Option<Admin>,
    migrations: impl TenantInit<C>,
) -> Result<NotesAxum, NotesError> {
    // axum runs on a multi-thread runtime: the registry drives its connections there too, so a
    // checkout and its queries need no hop to a runtime of the registry's own (docs/axum.md).
    // Built outside one (a current-thread test runtime), the registry keeps its own.
    let mut builder = Registry::<C>::builder(settings).tenant_init(migrations);
    if let Ok(io) = IoRuntime::current() {
        builder = builder.io_runtime(io);
    }
    let registry = builder.build()?;
    let mut router = Router::new()
        .route("/healthz", get(routes::healthz))
        .route(
            "/readyz",
            readiness::method_router(ReadinessChecks::new().registry(registry.clone())),
        )
        .merge(routes::notes::<C>());
    if let Some(admin) = admin {
        let admin = admin.registry("notes", registry.clone());
        router = router.nest(admin.path(), admin.router());
    }
    let router = router.layer(DefaultBodyLimit::max(routes::MAX_BODY));
    // Resolution wraps the router (path stripping happens before routing) and hands the
    // registry to the extractors; the request span wraps resolution (the tenant is recorded
    // into it).
    let tenants = TenantLayer::new(resolver).registry(TenantRegistry::new(registry.clone()));
    let app = TraceLayer::new_for_http()
        .make_span_with(TenantMakeSpan)
        .layer(tenants.layer(router));
    let addr = listener.local_addr()?;
    Ok(NotesAxum {
        addr,
        listener,
        app,
        shutdown: GracefulShutdown::new(server.shutdown_timeout).registry(registry),
    })
}
