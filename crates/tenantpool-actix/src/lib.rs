//! # tenantpool-actix
//!
//! The actix-web side of tenantpool: find out which tenant a request is for, hand the handler
//! a connection to that tenant's database, and turn every failure into the right status code.
//!
//! The story of a request:
//!
//! 1. [`ResolveTenant`] (a middleware) asks a [`Resolver`](resolve::Resolver) (subdomain,
//!    custom domain, header, path prefix, your closure, in the order you choose) and puts the
//!    [`Tenant`] into the request extensions, or answers 400.
//! 2. The handler asks for a [`TenantConn<C>`](TenantConn): the extractor checks a connection
//!    out of the [`TenantRegistry<C>`](TenantRegistry) registered as app data, for that tenant.
//!    A second type parameter picks another registry (`TenantConn<AsyncPgConnection, Replica>`).
//! 3. The connection goes back to its pool when the handler ends, whichever way it ends. A
//!    failed query becomes a [`QueryError`] with
//!    [`TenantConn::query_error`](TenantConn::query_error): 503 with `Retry-After` when the
//!    connection to the database was lost, a generic 500 otherwise.
//! 4. Failures answer with JSON `{"error": ..., "tenant": ...}`: 400 malformed, 404 unknown
//!    tenant, 503 with `Retry-After` when the pool or the database cannot serve now, 500
//!    otherwise (see [`response`](crate::TenantError)).
//! 5. [`TenantRootSpan`] gives tracing-actix-web's root span a `tenant` field; the
//!    [`admin`] scope serves pool statistics behind a bearer token; the
//!    [`readiness`] endpoint answers a load balancer (200, or 503 with the reasons); [`GracefulShutdown`]
//!    closes every pool after the server has drained.
//!
#![cfg_attr(feature = "sqlite", doc = "```no_run")]
#![cfg_attr(not(feature = "sqlite"), doc = "```ignore")]
//! use std::time::Duration;
//! use actix_web::{web, App, HttpResponse, HttpServer};
//! use diesel_async::RunQueryDsl;
//! use tenantpool_actix::{resolve::Resolver, GracefulShutdown, ResolveTenant, TenantConn, TenantRegistry};
//! use tenantpool_core::{Registry, Settings, SqliteConnection};
//!
//! async fn ping(mut conn: TenantConn<SqliteConnection>) -> HttpResponse {
//!     match diesel::sql_query("SELECT 1").execute(&mut conn).await {
//!         Ok(_) => HttpResponse::Ok().body(format!("pong from {}", conn.tenant())),
//!         Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::<SqliteConnection>::builder(Settings::load(Some("config/default.toml".as_ref()))?).build()?;
//! let resolver = Resolver::builder().subdomain_of("localhost").exempt("/healthz").build()?;
//! let app_registry = registry.clone();
//! let server = HttpServer::new(move || {
//!     App::new()
//!         .app_data(TenantRegistry::new(app_registry.clone()))
//!         .wrap(ResolveTenant::new(resolver.clone()))
//!         .route("/healthz", web::get().to(HttpResponse::Ok))
//!         .route("/ping", web::get().to(ping))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run();
//! GracefulShutdown::new(Duration::from_secs(10)).registry(registry).run(server).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
mod extract;
mod middleware;
mod query;
pub mod readiness;
pub mod resolve;
mod response;
mod server;
mod span;

pub use crate::extract::{
    MissingRegistry, Primary, Replica, Role, Tenant, TenantConn, TenantConnRejection,
    TenantRegistry, TenantRejection,
};
pub use crate::middleware::{ResolveTenant, ResolveTenantService};
pub use crate::query::QueryError;
pub use crate::response::{error_response, ErrorBody, TenantError};
pub use crate::server::GracefulShutdown;
pub use crate::span::TenantRootSpan;
pub use tenantpool_resolve::{role, SetupError};
