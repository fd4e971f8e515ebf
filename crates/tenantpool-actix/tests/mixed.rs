//! A PostgreSQL and a MySQL registry in one app: each route's extractor picks its registry
//! by connection type.

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use mysql_async::prelude::Queryable;
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantConn, TenantRegistry};
use tenantpool_core::{Registry, Settings, TemplateDirectory, TenantId};

use common::{
    create_pg_db, drop_pg_db, get, mysql_url, pg_admin, pg_url, unique, unreachable, wait_pg_count,
};

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
async fn postgres_and_mysql_registries_serve_side_by_side() {
    let Some(pg_admin) = pg_admin().await else {
        return;
    };
    let mut my_admin =
        match mysql_async::Conn::new(mysql_async::Opts::from_url(&mysql_url()).unwrap()).await {
            Ok(conn) => conn,
            Err(e) => return unreachable("MariaDB", &e),
        };
    let prefix = unique("mixed");
    create_pg_db(&pg_admin, &format!("{prefix}_acme")).await;
    my_admin
        .query_drop(format!("CREATE DATABASE {prefix}_acme"))
        .await
        .unwrap();

    let acme = [TenantId::parse("acme").unwrap()];
    let pg = Registry::<AsyncPgConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(
            TemplateDirectory::database(&format!(
                "{}/{prefix}_{{tenant}}?application_name={prefix}",
                pg_url()
            ))
            .unwrap()
            .allow(acme.clone()),
        )
        .build()
        .unwrap();
    let my = Registry::<AsyncMysqlConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(
            TemplateDirectory::database(&format!("{}/{prefix}_{{tenant}}", mysql_url()))
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
    assert_eq!((status, body), (200, format!("{prefix}_acme")));
    let (status, _, body) = get(addr, "/mysql", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!((status, body), (200, format!("{prefix}_acme")));
    let (status, _, _) = get(addr, "/mysql", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!(status, 404);

    assert_eq!(pg.stats().backend.to_string(), "postgres");
    assert_eq!(my.stats().backend.to_string(), "mysql");
    pg.shutdown(Duration::from_secs(5)).await;
    my.shutdown(Duration::from_secs(5)).await;
    wait_pg_count(&pg_admin, &prefix, 0, Duration::from_secs(10)).await;
    drop_pg_db(&pg_admin, &format!("{prefix}_acme")).await;
    let _ = my_admin
        .query_drop(format!("DROP DATABASE IF EXISTS {prefix}_acme"))
        .await;
    let _ = my_admin.disconnect().await;
}
