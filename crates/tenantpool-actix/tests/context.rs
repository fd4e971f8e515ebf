//! The handler runs in its tenant's context: code deep in it finds the tenant and a
//! connection without being handed the key, tasks it spawns with `tenantpool_core::spawn`
//! keep it, and routes outside resolution have none.

#[macro_use]
mod common;

use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{ResolveTenant, TenantRegistry};
use tenantpool_core::{
    current_tenant, DatabaseUrl, Error, Registry, Settings, SqliteConnection, StaticDirectory,
    TenantId, TenantTarget,
};

use common::{get, unique};

#[derive(QueryableByName)]
struct File {
    #[diesel(sql_type = Text)]
    file: String,
}

/// A function far from the handler: no tenant key in its signature.
async fn deep(registry: &Registry<SqliteConnection>) -> Result<(String, String), Error> {
    let tenant = current_tenant()?;
    let mut conn = registry.get_current().await?;
    let file = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<File>(&mut *conn)
        .await
        .map(|f| f.file)
        .unwrap_or_else(|e| e.to_string());
    Ok((tenant.to_string(), file))
}

async fn whoami(registry: web::Data<Registry<SqliteConnection>>) -> HttpResponse {
    let registry = registry.get_ref().clone();
    let direct = deep(&registry).await;
    let spawned = match tenantpool_core::spawn(async move { deep(&registry).await }) {
        Ok(handle) => handle.await.ok(),
        Err(e) => Some(Err(e)),
    };
    match (direct, spawned) {
        (Ok((tenant, file)), Some(Ok((spawned_tenant, spawned_file)))) => {
            HttpResponse::Ok().body(format!(
                "{tenant} {spawned_tenant} {}",
                file == spawned_file && file.ends_with(&format!("/{tenant}.db"))
            ))
        }
        (direct, spawned) => HttpResponse::InternalServerError().body(format!(
            "{:?} {:?}",
            direct.err(),
            spawned.map(|s| s.err())
        )),
    }
}

async fn outside() -> HttpResponse {
    match current_tenant() {
        Err(Error::NoTenantContext) => HttpResponse::Ok().body("none"),
        other => HttpResponse::InternalServerError().body(format!("{other:?}")),
    }
}

#[actix_web::test]
async fn handlers_run_in_their_tenants_context_and_exempt_routes_in_none() {
    let dir = std::env::temp_dir().join(unique("tpa_context"));
    let mut directory = StaticDirectory::new();
    for tenant in ["acme", "globex"] {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/{tenant}.db", dir.display())).unwrap();
        directory.insert(
            TenantId::parse(tenant).unwrap(),
            TenantTarget::database(url).creating_missing(),
        );
    }
    let registry = Registry::<SqliteConnection>::builder(Settings::default())
        .directory(directory)
        .build()
        .unwrap();
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .exempt("/outside")
        .build()
        .unwrap();
    let r = registry.clone();
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(web::Data::new(r.clone()))
            .app_data(TenantRegistry::new(r.clone()))
            .wrap(ResolveTenant::new(resolver.clone()))
            .route("/whoami", web::get().to(whoami))
            .route("/outside", web::get().to(outside))
    });
    for _ in 0..3 {
        for tenant in ["acme", "globex"] {
            let (status, _, body) = get(addr, "/whoami", &[("X-Tenant-Id", tenant)]).await;
            assert_eq!((status, body), (200, format!("{tenant} {tenant} true")));
        }
    }
    let (status, _, body) = get(addr, "/outside", &[]).await;
    assert_eq!((status, body.as_str()), (200, "none"));
    registry.shutdown(std::time::Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}
