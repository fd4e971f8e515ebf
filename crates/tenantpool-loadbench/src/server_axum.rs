//! The axum servers under test: the same `GET /` (one `SELECT 1` on a connection of the
//! request's tenant), `GET /_lb/health` and `GET /_lb/stats` as the actix ones, on a tokio
//! runtime with as many worker threads as the actix variants have workers.
//!
//! | variant | what | connections |
//! | --- | --- | --- |
//! | AX | hand-written axum + diesel-async deadpool pool (A on axum) | one pool of `pool_size` (`RecyclingMethod::Fast`) |
//! | BX | tenantpool-axum, one tenant, `TenantLayer` (Host header) + `TenantConn` (B on axum) | budget |
//! | C1X | tenantpool-axum, schema per tenant (C1 on axum) | budget |

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::AsyncPgConnection;
use tenantpool::axum::resolve::Resolver;
use tenantpool::axum::{GracefulShutdown, TenantConn, TenantLayer, TenantRegistry};
use tenantpool::{IoRuntime, Registry, Settings, TemplateDirectory, TenantId};
use tower::Layer;

use crate::server::{
    hand_written_pool, hand_written_stats, run_query, ErrorLog, ServeOptions, QUERY,
};
use crate::stats::{PoolStatus, ServerStats};
use crate::variant::Variant;
use crate::{db_url, tenant_db, tenant_key, Result, SCHEMA_DB};

/// Runs an axum variant until SIGINT/SIGTERM.
pub fn serve(opts: ServeOptions) -> Result<()> {
    let _ = QUERY.set(opts.query);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match opts.variant {
            Variant::AX => serve_ax(&opts).await,
            _ => serve_tenantpool(&opts).await,
        }
    })
}

async fn listen(opts: &ServeOptions) -> Result<tokio::net::TcpListener> {
    Ok(tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?)
}

fn answer(result: diesel::QueryResult<()>) -> Response {
    match result {
        Ok(()) => "ok".into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

// ---- AX: the hand-written single pool on axum ----------------------------------------------

struct SinglePool {
    pool: Pool<AsyncPgConnection>,
    connects: Arc<AtomicU64>,
    errors: ErrorLog,
}

async fn ax_handler(State(state): State<Arc<SinglePool>>) -> Response {
    match state.pool.get().await {
        Ok(mut conn) => answer(run_query(&mut conn).await),
        Err(e) => {
            state.errors.record(&e);
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}

async fn ax_stats(State(state): State<Arc<SinglePool>>) -> Json<ServerStats> {
    let status = state.pool.status();
    Json(ServerStats {
        pool: Some(PoolStatus {
            size: status.size,
            available: status.available,
            max_size: status.max_size,
        }),
        ..hand_written_stats(Variant::AX, &state.connects, &state.errors)
    })
}

async fn serve_ax(opts: &ServeOptions) -> Result<()> {
    let app = opts.variant.app_name();
    let connects = Arc::new(AtomicU64::new(0));
    let pool = hand_written_pool(
        &db_url(&opts.pg, &tenant_db(1), &app),
        opts.pool_size,
        connects.clone(),
    )?;
    let state = Arc::new(SinglePool {
        pool,
        connects,
        errors: ErrorLog::default(),
    });
    let router = Router::new()
        .route("/", get(ax_handler))
        .route("/_lb/health", get(|| async { "ok" }))
        .route("/_lb/stats", get(ax_stats))
        .with_state(state);
    let listener = listen(opts).await?;
    GracefulShutdown::new(Duration::from_secs(2))
        .serve(listener, router, tenantpool::axum::shutdown_signal())
        .await?;
    Ok(())
}

// ---- BX, C1X: tenantpool-axum --------------------------------------------------------------

async fn tp_handler(mut conn: TenantConn<AsyncPgConnection>) -> Response {
    answer(run_query(&mut conn).await)
}

async fn tp_stats(
    registry: TenantRegistry<AsyncPgConnection>,
    variant: Variant,
) -> Json<ServerStats<tenantpool::Stats>> {
    let stats = registry.stats();
    Json(ServerStats {
        variant,
        connects: stats.counters.connections_created,
        errors: None,
        pool: None,
        naive: None,
        registry: Some(stats),
    })
}

async fn serve_tenantpool(opts: &ServeOptions) -> Result<()> {
    let app = opts.variant.app_name();
    let variant = opts.variant;
    let mut settings = Settings::load(None)?;
    settings.pool.max_size = opts.pool_size;
    settings.budget.max_connections = opts.budget;
    settings.budget.replicas = opts.replicas;
    if let Some(n) = opts.io_threads {
        settings.runtime.io_threads = n;
    }
    let directory = match opts.variant {
        Variant::C1X => TemplateDirectory::schema(&db_url(&opts.pg, SCHEMA_DB, &app), "{tenant}")?,
        _ => TemplateDirectory::database(&db_url(&opts.pg, "lb_{tenant}", &app))?,
    };
    let known = (1..=opts.tenants)
        .map(|k| TenantId::parse(&tenant_key(k)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut builder =
        Registry::<AsyncPgConnection>::builder(settings).directory(directory.allow(known));
    // On axum the registry drives its connections on the server's own runtime (as
    // docs/axum.md recommends); `--io-threads N` measures a dedicated I/O runtime instead.
    if opts.io_threads.is_none() {
        builder = builder.io_runtime(IoRuntime::current()?);
    }
    let registry = builder.build()?;
    let resolver = Resolver::builder()
        .subdomain_of(&opts.domain)
        .exempt("/_lb")
        .build()?;
    let router = Router::new()
        .route("/", get(tp_handler))
        .route("/_lb/health", get(|| async { "ok" }))
        // The variant is captured, not added as an Extension: every request would pay for
        // inserting it, and AX pays for nothing like it.
        .route(
            "/_lb/stats",
            get(move |registry| tp_stats(registry, variant)),
        );
    let app = TenantLayer::new(resolver)
        .registry(TenantRegistry::new(registry.clone()))
        .layer(router);
    let listener = listen(opts).await?;
    GracefulShutdown::new(Duration::from_secs(2))
        .registry(registry)
        .serve(listener, app, tenantpool::axum::shutdown_signal())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axum_variants_and_only_they_are_served_by_axum() {
        for v in Variant::AXUM {
            assert!(v.is_axum());
        }
        assert!(Variant::ALL.iter().all(|v| !v.is_axum()));
    }
}
