//! The handler runs in its tenant's context, as under the actix adapter: code deep in it finds
//! the tenant and a connection without being handed the key, tasks it spawns with
//! `tenantpool_core::spawn` keep it, and routes outside resolution have none.

mod common;

use axum::http::StatusCode;
use axum::routing::get as route_get;
use axum::{Extension, Router};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use tenantpool_axum::resolve::Resolver;
use tenantpool_axum::TenantLayer;
use tenantpool_core::{
    current_tenant, DatabaseUrl, Error, Registry, Settings, SqliteConnection, StaticDirectory,
    TenantId, TenantTarget,
};
use tower::Layer;

use common::{get, serve, unique};

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

async fn whoami(
    Extension(registry): Extension<Registry<SqliteConnection>>,
) -> (StatusCode, String) {
    let direct = deep(&registry).await;
    let spawned = match tenantpool_core::spawn(async move { deep(&registry).await }) {
        Ok(handle) => handle.await.ok(),
        Err(e) => Some(Err(e)),
    };
    match (direct, spawned) {
        (Ok((tenant, file)), Some(Ok((spawned_tenant, spawned_file)))) => (
            StatusCode::OK,
            format!(
                "{tenant} {spawned_tenant} {}",
                file == spawned_file && file.ends_with(&format!("/{tenant}.db"))
            ),
        ),
        (direct, spawned) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{:?} {:?}", direct.err(), spawned.map(|s| s.err())),
        ),
    }
}

async fn outside() -> (StatusCode, String) {
    match current_tenant() {
        Err(Error::NoTenantContext) => (StatusCode::OK, "none".into()),
        other => (StatusCode::INTERNAL_SERVER_ERROR, format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_run_in_their_tenants_context_and_exempt_routes_in_none() {
    let dir = std::env::temp_dir().join(unique("tpx_context"));
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
    let router = Router::new()
        .route("/whoami", route_get(whoami))
        .route("/outside", route_get(outside))
        .layer(Extension(registry.clone()));
    let server = serve(TenantLayer::new(resolver).layer(router)).await;
    for _ in 0..3 {
        for tenant in ["acme", "globex"] {
            let reply = get(server.addr, "/whoami", &[("X-Tenant-Id", tenant)]).await;
            assert_eq!(
                (reply.status, reply.body),
                (200, format!("{tenant} {tenant} true"))
            );
        }
    }
    let reply = get(server.addr, "/outside", &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "none"));
    server.stop().await;
    registry.shutdown(std::time::Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}
