//! The application under test: an actix-web app on `tenantpool-actix`, PostgreSQL tenants,
//! handlers that succeed, fail, panic, time out and sleep, all using the adapter's
//! `QueryError` for failed queries.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use tenantpool::actix::resolve::Resolver;
use tenantpool::actix::{
    error_response, GracefulShutdown, QueryError, ResolveTenant, TenantConn, TenantRegistry,
};
use tenantpool::{Registry, ShutdownReport};

use crate::support::EXPECTED_PANIC;

pub type Pg = AsyncPgConnection;

#[derive(QueryableByName)]
pub struct Value {
    #[diesel(sql_type = Text)]
    pub value: String,
}

/// `GET /q`: the database's name.
pub async fn whoami(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    let row = diesel::sql_query("SELECT current_database()::text AS value")
        .get_result::<Value>(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().body(row.value))
}

/// `GET /schema`: `search_path|owner of the item row`, asked of the server in one statement.
pub async fn schema(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    let row = diesel::sql_query(
        "SELECT current_setting('search_path') || '|' || (SELECT owner FROM item) AS value",
    )
    .get_result::<Value>(&mut conn)
    .await
    .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().body(row.value))
}

/// `GET /sleep/{ms}`: `pg_sleep`, then 200.
pub async fn sleep(
    mut conn: TenantConn<Pg>,
    ms: web::Path<u64>,
) -> Result<HttpResponse, QueryError> {
    let secs = ms.into_inner() as f64 / 1000.0;
    diesel::sql_query(format!("SELECT pg_sleep({secs})"))
        .execute(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().body("slept"))
}

/// `GET /fail`: a query that fails (a missing table): a generic 500.
pub async fn fail(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    diesel::sql_query("SELECT * FROM tpr_no_such_table")
        .execute(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /txfail`: a transaction whose second statement fails: rolled back, a generic 500.
pub async fn txfail(mut conn: TenantConn<Pg>) -> Result<HttpResponse, QueryError> {
    let result = (*conn)
        .transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query("CREATE TEMPORARY TABLE IF NOT EXISTS tpr_t (x int)")
                .execute(c)
                .await?;
            diesel::sql_query("SELECT * FROM tpr_no_such_table")
                .execute(c)
                .await?;
            Ok(())
        })
        .await;
    result.map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /panic`: a panic in the middle of a transaction.
pub async fn panics(mut conn: TenantConn<Pg>) -> HttpResponse {
    let _ = <Pg as AsyncConnection>::TransactionManager::begin_transaction(&mut *conn).await;
    let _ = diesel::sql_query("SELECT 1").execute(&mut conn).await;
    panic!("{EXPECTED_PANIC}: a bug in a handler, inside a transaction");
}

/// `GET /timeout/{ms}`: `pg_sleep(1)` wrapped in a `ms` timeout: the query future is dropped
/// mid-flight, and the handler answers 503.
pub async fn timeout(
    mut conn: TenantConn<Pg>,
    ms: web::Path<u64>,
) -> Result<HttpResponse, QueryError> {
    let query = diesel::sql_query("SELECT pg_sleep(1)").execute(&mut *conn);
    let outcome = tokio::time::timeout(Duration::from_millis(ms.into_inner()), query).await;
    match outcome {
        Ok(done) => {
            done.map_err(|e| conn.query_error(e))?;
            Ok(HttpResponse::Ok().body("finished"))
        }
        Err(_) => {
            let mut resp = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the query took too long",
                Some(conn.tenant()),
            );
            resp.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
            Ok(resp)
        }
    }
}

/// Mounts every route above.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/q", web::get().to(whoami))
        .route("/schema", web::get().to(schema))
        .route("/sleep/{ms}", web::get().to(sleep))
        .route("/fail", web::get().to(fail))
        .route("/txfail", web::get().to(txfail))
        .route("/panic", web::get().to(panics))
        .route("/timeout/{ms}", web::get().to(timeout));
}

/// Serves [`routes`] for `registry` (tenant from `X-Tenant-Id`) on an ephemeral port with
/// `workers` workers, under a graceful shutdown that waits up to `shutdown_within` for
/// checked-out connections: the address, the server's handle, and the task that ends with
/// the shutdown reports.
pub fn serve(
    registry: &Registry<Pg>,
    workers: usize,
    shutdown_within: Duration,
) -> (
    SocketAddr,
    ServerHandle,
    actix_web::rt::task::JoinHandle<std::io::Result<Vec<ShutdownReport>>>,
) {
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .build()
        .expect("resolver");
    let r = registry.clone();
    let (addr, handle, server) = serve!(
        move || {
            App::new()
                .app_data(TenantRegistry::new(r.clone()))
                .wrap(ResolveTenant::new(resolver.clone()))
                .configure(routes)
        },
        workers
    );
    let served = actix_web::rt::spawn(
        GracefulShutdown::new(shutdown_within)
            .registry(registry.clone())
            .run(server),
    );
    (addr, handle, served)
}
