//! PostgreSQL (and MariaDB) end to end over real HTTP: connections go back after the handler,
//! whichever way it ends, per-route registry selection by role and by connection type, and
//! graceful shutdown, all checked against the server's own count of connections
//! (`pg_stat_activity`, by `application_name`).

mod common;

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get as route_get;
use axum::{Extension, Router};
use diesel::sql_types::Text;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::join_all;
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::{
    GracefulShutdown, Primary, QueryError, Replica, Role, TenantConn, TenantLayer, TenantRegistry,
};
use tenantpool_core::{Registry, Settings, TemplateDirectory, TenantId};
use tower::Layer;

use tenantpool_testkit::{Databases, Error, MySqlServer, PgServer, Tag, TestServer};

use common::{get, serve, serve_with, wait_for};

const SETTINGS: &str = r#"
[pool]
max_size = 2
checkout_timeout = "5s"
[budget]
max_connections = 6
[cache]
maintenance_interval = "100ms"
"#;

fn registry(directory: TemplateDirectory) -> Registry<AsyncPgConnection> {
    Registry::<AsyncPgConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(directory.allow([
            TenantId::parse("acme").unwrap(),
            TenantId::parse("globex").unwrap(),
        ]))
        .build()
        .unwrap()
}

fn resolver() -> Resolver {
    Resolver::builder().header("X-Tenant-Id").build().unwrap()
}

async fn current_database<R: Role>(mut conn: TenantConn<AsyncPgConnection, R>) -> String {
    diesel::select(diesel::dsl::sql::<Text>("current_database()"))
        .get_result::<String>(&mut conn)
        .await
        .unwrap_or_else(|e| e.to_string())
}

async fn sleeps(conn: TenantConn<AsyncPgConnection>, Path(secs): Path<f64>) -> &'static str {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    drop(conn);
    "slept"
}

async fn fails(mut conn: TenantConn<AsyncPgConnection>) -> Result<String, QueryError> {
    diesel::sql_query("SELECT * FROM no_such_table")
        .execute(&mut conn)
        .await
        .map_err(|e| conn.query_error(e))?;
    Ok("unreachable".into())
}

async fn panics(mut conn: TenantConn<AsyncPgConnection>) -> StatusCode {
    let _ = diesel::sql_query("SELECT 1").execute(&mut conn).await;
    panic!("the handler panics while holding a connection");
}

fn app(registry: &Registry<AsyncPgConnection>) -> tenantpool_axum::TenantService<Router> {
    let router = Router::new()
        .route("/db", route_get(current_database::<Primary>))
        .route("/sleep/{secs}", route_get(sleeps))
        .route("/fail", route_get(fails))
        .route("/panic", route_get(panics))
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    TenantLayer::new(resolver())
        .registry(TenantRegistry::new(registry.clone()))
        .layer(router)
}

async fn databases_per_tenant(server: &PgServer, prefix: &str) -> Result<(Databases, Tag), Error> {
    let dbs = server
        .throwaway_databases(prefix, &["acme", "globex"])
        .await?;
    Ok((dbs, server.tag(prefix).await?))
}

fn database_template(server: &PgServer, dbs: &Databases, tag: &str) -> TemplateDirectory {
    TemplateDirectory::database(&server.url(&dbs.name("{tenant}"), tag)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_go_back_after_the_handler_whichever_way_it_ends() -> Result<(), Error> {
    let Some(pg) = PgServer::from_env().await else {
        return Ok(());
    };
    let (dbs, tag) = databases_per_tenant(&pg, "tpx_return").await?;
    let registry = registry(database_template(&pg, &dbs, &tag));
    assert_eq!(pg.count(&tag).await?, 0, "baseline");
    let server = serve(app(&registry)).await;

    let reply = get(server.addr, "/db", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!((reply.status, reply.body), (200, dbs.name("globex")));
    let reply = get(server.addr, "/fail", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.status, 500);
    assert!(!reply.body.contains("no_such_table"), "{}", reply.body);
    assert_eq!(reply.json()["tenant"], "acme");
    let reply = get(server.addr, "/panic", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.status, 500);

    wait_for(
        "every connection back in its pool",
        Duration::from_secs(15),
        || registry.stats().pools.iter().all(|p| p.in_use == 0),
    )
    .await;
    let open = pg.count(&tag).await?;
    assert!(
        (1..=4).contains(&open),
        "{open} server-side connections for two tenants with pools of 2"
    );
    // Evicted, the tenants' pools close: nothing was leaked by the failing handlers.
    for tenant in ["acme", "globex"] {
        registry.evict(&TenantId::parse(tenant).unwrap());
    }
    registry.run_maintenance();
    pg.assert_no_connections(&tag, Duration::from_secs(15))
        .await?;
    server.stop().await;
    dbs.remove().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_uses_the_registry_its_extractor_names() -> Result<(), Error> {
    let Some(pg) = PgServer::from_env().await else {
        return Ok(());
    };
    let Some(my) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let dbs = pg
        .throwaway_databases("tpx_roles", &["acme", "r_acme"])
        .await?;
    let my_dbs = my.throwaway_databases("tpx_roles", &["acme"]).await?;
    let tag = pg.tag("tpx_roles").await?;
    let primary =
        registry(TemplateDirectory::database(&pg.url(&dbs.name("{tenant}"), &tag)).unwrap());
    let replica =
        registry(TemplateDirectory::database(&pg.url(&dbs.name("r_{tenant}"), &tag)).unwrap());
    let mysql =
        Registry::<AsyncMysqlConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
            .directory(
                TemplateDirectory::database(&format!(
                    "{}/{}",
                    my.base_url(),
                    my_dbs.name("{tenant}")
                ))
                .unwrap()
                .allow([TenantId::parse("acme").unwrap()]),
            )
            .build()
            .unwrap();
    let router = Router::new()
        .route("/db", route_get(current_database::<Primary>))
        .route("/replica/db", route_get(current_database::<Replica>))
        .route(
            "/mysql/db",
            route_get(|mut conn: TenantConn<AsyncMysqlConnection>| async move {
                diesel::select(diesel::dsl::sql::<Text>("DATABASE()"))
                    .get_result::<String>(&mut conn)
                    .await
                    .unwrap_or_else(|e| e.to_string())
            }),
        )
        // A registry added as an extension is found as well as those handed to the layer.
        .layer(Extension(TenantRegistry::new(mysql.clone())));
    let layer = TenantLayer::new(resolver())
        .registry(TenantRegistry::new(primary.clone()))
        .registry(TenantRegistry::<_, Replica>::with_role(replica.clone()));
    let server = serve_with(
        layer.layer(router),
        GracefulShutdown::new(Duration::from_secs(5))
            .registry(primary)
            .registry(replica)
            .registry(mysql),
    )
    .await;
    let reply = get(server.addr, "/db", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.body, dbs.name("acme"));
    let reply = get(server.addr, "/replica/db", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.body, dbs.name("r_acme"));
    let reply = get(server.addr, "/mysql/db", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(reply.body, my_dbs.name("acme"));
    let reports = server.stop().await;
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    pg.assert_no_connections(&tag, Duration::from_secs(10))
        .await?;
    my_dbs.remove().await?;
    dbs.remove().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_requests_finish_then_closes_every_connection() -> Result<(), Error>
{
    let Some(pg) = PgServer::from_env().await else {
        return Ok(());
    };
    let (dbs, tag) = databases_per_tenant(&pg, "tpx_shutdown").await?;
    let registry = registry(database_template(&pg, &dbs, &tag));
    let server = serve_with(
        app(&registry),
        GracefulShutdown::new(Duration::from_secs(5)).registry(registry.clone()),
    )
    .await;
    let addr = server.addr;
    let warm = ["acme", "acme", "globex", "globex"]
        .map(|t| async move { get(addr, "/sleep/0.3", &[("X-Tenant-Id", t)]).await.status });
    assert_eq!(join_all(warm).await, vec![200; 4]);
    let open = pg.count(&tag).await?;
    assert!(
        (2..=4).contains(&open),
        "{open} connections after warming two tenants"
    );

    // A request in flight when the signal comes still completes.
    let in_flight =
        tokio::spawn(async move { get(addr, "/sleep/1", &[("X-Tenant-Id", "acme")]).await });
    wait_for(
        "the slow request to hold a connection",
        Duration::from_secs(10),
        || {
            registry
                .stats()
                .pools
                .iter()
                .map(|p| p.in_use)
                .sum::<usize>()
                == 1
        },
    )
    .await;
    let reports = server.stop().await;
    let reply = in_flight.await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "slept"));
    assert_eq!(reports.len(), 1);
    assert!(reports[0].clean, "{:?}", reports[0]);
    assert_eq!(reports[0].pools_closed, 2);
    pg.assert_no_connections(&tag, Duration::from_secs(10))
        .await?;
    dbs.remove().await
}
