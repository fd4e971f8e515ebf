//! A PostgreSQL and a MySQL registry in one app: each route's extractor picks its registry
//! by connection type.

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantConn, TenantRegistry};
use tenantpool_core::{Registry, Settings, TemplateDirectory, TenantId};

use tenantpool_testkit::{Error, MySqlServer, PgServer, TestServer};

use common::get;

const SETTINGS: &str = "[pool]\nmax_size = 2\n[budget]\nmax_connections = 4";

async fn pg_db(mut conn: TenantConn<AsyncPgConnection>) -> HttpResponse {
    let db = diesel::select(diesel::dsl::sql::<Text>("current_database()"))
        .get_result::<String>(&mut conn)
        .await;
    HttpResponse::Ok().body(db.unwrap_or_else(|e| e.to_string()))
}

async fn mysql_db(mut conn: TenantConn<AsyncMysqlConnection>) -> HttpResponse {
    let db = diesel::select(diesel::dsl::sql::<Text>("DATABASE()"))
        .get_result::<String>(&mut conn)
        .await;
    HttpResponse::Ok().body(db.unwrap_or_else(|e| e.to_string()))
}

#[actix_web::test]
async fn postgres_and_mysql_registries_serve_side_by_side() -> Result<(), Error> {
    let Some(pg_server) = PgServer::from_env().await else {
        return Ok(());
    };
    let Some(my_server) = MySqlServer::from_env().await else {
        return Ok(());
    };
    let pg_dbs = pg_server
        .throwaway_databases("tpa_mixed", &["acme"])
        .await?;
    let my_dbs = my_server
        .throwaway_databases("tpa_mixed", &["acme"])
        .await?;
    let tag = pg_server.tag("tpa_mixed").await?;

    let acme = [TenantId::parse("acme").unwrap()];
    let pg = Registry::<AsyncPgConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(
            TemplateDirectory::database(&pg_server.url(&pg_dbs.name("{tenant}"), &tag))
                .unwrap()
                .allow(acme.clone()),
        )
        .build()
        .unwrap();
    let my = Registry::<AsyncMysqlConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(
            TemplateDirectory::database(&format!(
                "{}/{}",
                my_server.base_url(),
                my_dbs.name("{tenant}")
            ))
            .unwrap()
            .allow(acme),
        )
        .build()
        .unwrap();
    let (p, m) = (pg.clone(), my.clone());
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(p.clone()))
            .app_data(TenantRegistry::new(m.clone()))
            .wrap(ResolveTenant::new(
                Resolver::builder().header("X-Tenant-Id").build().unwrap(),
            ))
            .route("/pg", web::get().to(pg_db))
            .route("/mysql", web::get().to(mysql_db))
    });
    let (status, _, body) = get(addr, "/pg", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body), (200, pg_dbs.name("acme")));
    let (status, _, body) = get(addr, "/mysql", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body), (200, my_dbs.name("acme")));
    let (status, _, _) = get(addr, "/mysql", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!(status, 404);

    assert_eq!(pg.stats().backend.to_string(), "postgres");
    assert_eq!(my.stats().backend.to_string(), "mysql");
    pg.shutdown(Duration::from_secs(5)).await;
    my.shutdown(Duration::from_secs(5)).await;
    pg_server
        .assert_no_connections(&tag, Duration::from_secs(10))
        .await?;
    pg_dbs.remove().await?;
    my_dbs.remove().await
}
