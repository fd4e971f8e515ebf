//! Wiring: configuration → registry → actix server → graceful shutdown.

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection};
use tenantpool::actix::admin::{Admin, AdminConfig};
use tenantpool::actix::readiness::{self, ReadinessChecks};
use tenantpool::actix::resolve::{ResolveConfig, Resolver, ResolverBuilder};
use tenantpool::actix::{GracefulShutdown, ResolveTenant, TenantRegistry, TenantRootSpan};
use tenantpool::{Registry, Settings, SqliteConnection, TenantInit};
use tracing_actix_web::TracingLogger;

use crate::migrate::{ServerMigrations, SqliteMigrations};
use crate::routes;
use crate::settings::{BackendChoice, ServerConfig};
use crate::store::NotesStore;

/// Why the app could not start or serve.
///
/// ```
/// let e = tenantpool_notes::NotesError::Config("[server]: bad".into());
/// assert!(e.to_string().contains("[server]"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotesError {
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tenantpool::ConfigError> for NotesError {
    fn from(e: tenantpool::ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<tenantpool::actix::SetupError> for NotesError {
    fn from(e: tenantpool::actix::SetupError) -> Self {
        Self::Config(e.to_string())
    }
}

/// A bound, not yet running notes server.
///
/// ```no_run
/// # async fn f(config: config::Config) -> Result<(), tenantpool_notes::NotesError> {
/// let notes = tenantpool_notes::start(&config)?;
/// let addr = notes.addr();
/// let handle = notes.handle(); // handle.stop(true) stops it gracefully
/// let reports = notes.run().await?;
/// # Ok(()) }
/// ```
pub struct Notes {
    addr: SocketAddr,
    server: Server,
    shutdown: GracefulShutdown,
}

impl std::fmt::Debug for Notes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notes")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Notes {
    /// The address the server listens on.
    ///
    /// ```no_run
    /// # fn f(notes: tenantpool_notes::Notes) {
    /// println!("http://{}", notes.addr());
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop the server (`stop(true)` is graceful).
    ///
    /// ```no_run
    /// # async fn f(notes: tenantpool_notes::Notes) {
    /// notes.handle().stop(true).await;
    /// # }
    /// ```
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT, SIGTERM or [`handle`](Self::handle)), lets
    /// in-flight requests finish, then closes every pool.
    ///
    /// ```no_run
    /// # async fn f(notes: tenantpool_notes::Notes) -> std::io::Result<()> {
    /// let reports = notes.run().await?;
    /// assert!(reports.iter().all(|r| r.clean));
    /// # Ok(()) }
    /// ```
    pub async fn run(self) -> std::io::Result<Vec<tenantpool::ShutdownReport>> {
        self.shutdown.run(self.server).await
    }
}

/// Builds the registry for the configured backend and binds the server. Call it inside an
/// actix system (`#[actix_web::main]`, `#[actix_web::test]`).
///
/// ```no_run
/// # async fn f() -> Result<(), tenantpool_notes::NotesError> {
/// let notes = tenantpool_notes::start(&tenantpool_notes::load_config(None)?)?;
/// # Ok(()) }
/// ```
pub fn start(config: &config::Config) -> Result<Notes, NotesError> {
    let server = ServerConfig::from_config(config)?;
    let settings = Settings::from_config(config)?;
    let resolver = ResolverBuilder::from_config(&ResolveConfig::from_config(config)?)?.build()?;
    let admin = Admin::from_config(&AdminConfig::from_config(config)?)?;
    match server.backend {
        BackendChoice::Sqlite => {
            serve::<SqliteConnection>(server, settings, resolver, admin, SqliteMigrations)
        }
        BackendChoice::Postgres => {
            serve::<AsyncPgConnection>(server, settings, resolver, admin, ServerMigrations)
        }
        BackendChoice::Mysql => {
            serve::<AsyncMysqlConnection>(server, settings, resolver, admin, ServerMigrations)
        }
    }
}

fn serve<C: NotesStore>(
    server: ServerConfig,
    settings: Settings,
    resolver: Resolver,
    admin: Option<Admin>,
    migrations: impl TenantInit<C>,
) -> Result<Notes, NotesError> {
    let registry = Registry::<C>::builder(settings)
        .tenant_init(migrations)
        .build()?;
    let admin = admin.map(|a| a.registry("notes", registry.clone()));
    let ready = ReadinessChecks::new().registry(registry.clone());
    let app_registry = registry.clone();
    let http = HttpServer::new(move || {
        let app = App::new()
            .app_data(TenantRegistry::new(app_registry.clone()))
            .wrap(ResolveTenant::new(resolver.clone()))
            .wrap(TracingLogger::<TenantRootSpan>::new())
            .route("/healthz", web::get().to(routes::healthz))
            .service(readiness::resource("/readyz", ready.clone()))
            .configure(routes::notes::<C>);
        match &admin {
            Some(admin) => app.service(admin.scope()),
            None => app,
        }
    })
    .workers(server.workers.max(1))
    .shutdown_timeout(server.shutdown_timeout.as_secs().max(1))
    .bind(server.bind)?;
    let addr = http
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| NotesError::Config(format!("nothing bound at {}", server.bind)))?;
    Ok(Notes {
        addr,
        server: http.run(),
        shutdown: GracefulShutdown::new(server.shutdown_timeout).registry(registry),
    })
}
