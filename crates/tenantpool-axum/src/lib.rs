//! # tenantpool-axum
//!
//! The axum side of tenantpool: find out which tenant a request is for, hand the handler a
//! connection to that tenant's database, and turn every failure into the right status code,
//! with the same rules, statuses and JSON bodies as the actix adapter (both build on
//! [`tenantpool_resolve`]).
//!
//! The story of a request:
//!
//! 1. [`TenantLayer`] (a tower layer) asks a [`Resolver`](resolve::Resolver) (subdomain,
//!    custom domain, header, path prefix, your closure, in the order you choose) and puts the
//!    [`Tenant`] into the request extensions, or answers 400.
//! 2. The handler asks for a [`TenantConn<C>`](TenantConn): the extractor checks a connection
//!    out of the [`TenantRegistry<C>`](TenantRegistry) handed to the layer
//!    ([`TenantLayer::registry`]), for that tenant. A second type parameter picks another
//!    registry (`TenantConn<AsyncPgConnection, Replica>`).
//! 3. The connection goes back to its pool when the handler ends, whichever way it ends. A
//!    failed query becomes a [`QueryError`] with
//!    [`TenantConn::query_error`](TenantConn::query_error).
//! 4. Failures answer with JSON `{"error": ..., "tenant": ...}`: 400 malformed, 404 unknown
//!    tenant, 503 with `Retry-After` when the pool or the database cannot serve now, 500
//!    otherwise.
//! 5. [`TenantMakeSpan`] gives tower-http's `TraceLayer` span a `tenant` field; the
//!    [`admin`] router serves pool statistics behind a bearer token; the
//!    [`readiness`] endpoint answers a load balancer (200, or 503 with the reasons);
//!    [`GracefulShutdown::serve`] closes every pool after the server has drained.
//!
#![cfg_attr(feature = "sqlite", doc = "```no_run")]
#![cfg_attr(not(feature = "sqlite"), doc = "```ignore")]
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use diesel_async::RunQueryDsl;
//! use tenantpool_axum::{resolve::Resolver, shutdown_signal, GracefulShutdown, TenantConn, TenantLayer, TenantRegistry};
//! use tenantpool_core::{Registry, Settings, SqliteConnection};
//! use tower::Layer;
//!
//! async fn ping(mut conn: TenantConn<SqliteConnection>) -> String {
//!     match diesel::sql_query("SELECT 1").execute(&mut conn).await {
//!         Ok(_) => format!("pong from {}", conn.tenant()),
//!         Err(e) => e.to_string(),
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::<SqliteConnection>::builder(Settings::load(Some("config/default.toml".as_ref()))?).build()?;
//! let resolver = Resolver::builder().subdomain_of("localhost").exempt("/healthz").build()?;
//! let router = Router::new()
//!     .route("/healthz", get(|| async { "ok" }))
//!     .route("/ping", get(ping));
//! let app = TenantLayer::new(resolver)
//!     .registry(TenantRegistry::new(registry.clone()))
//!     .layer(router);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! GracefulShutdown::new(Duration::from_secs(10))
//!     .registry(registry)
//!     .serve(listener, app, shutdown_signal())
//!     .await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
mod axum_request;
mod extract;
mod layer;
mod query;
pub mod readiness;
mod registries;
mod reply;
mod serve;
mod span;

/// Tenant resolution, shared with the actix adapter: see [`tenantpool_resolve`].
pub mod resolve {
    pub use tenantpool_resolve::{
        HeaderValue, Headers, Host, HostName, InvalidHost, NotVisibleAscii, OwnedRequest,
        RequestView, ResolveConfig, ResolveError, Resolved, ResolvedBy, Resolver, ResolverBuilder,
    };
}

pub use crate::axum_request::AxumRequest;
pub use crate::extract::{
    MissingRegistry, Tenant, TenantConn, TenantConnRejection, TenantError, TenantRegistry,
    TenantRejection,
};
pub use crate::layer::{TenantLayer, TenantService};
pub use crate::query::QueryError;
pub use crate::reply::{error_response, reply_response};
pub use crate::serve::{shutdown_signal, GracefulShutdown};
pub use crate::span::TenantMakeSpan;
pub use tenantpool_resolve::{role, ErrorBody, Primary, Replica, Role, SetupError};
