//! PostgreSQL end to end over real HTTP: isolation under database-per-tenant and
//! schema-per-tenant with interleaved concurrent requests, per-route registry selection,
//! error paths (panic, error, client disconnect) and graceful shutdown, all checked against
//! the server's own count of connections (`pg_stat_activity`, by `application_name`).

#[macro_use]
mod common;

use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use futures_util::future::join_all;
use tenantpool_actix::resolve::Resolver;
use tenantpool_actix::{GracefulShutdown, Replica, ResolveTenant, TenantConn, TenantRegistry};
use tenantpool_core::{BoxError, Registry, Settings, TemplateDirectory, TenantId};
use tokio::io::AsyncWriteExt;

use tenantpool_testkit::{Databases, Error, PgServer, Tag, TestServer};

use common::{client, get, wait_for, wait_until};

const SETTINGS: &str = r#"
[pool]
max_size = 2
checkout_timeout = "5s"
[budget]
max_connections = 6
[cache]
maintenance_interval = "100ms"
"#;

#[derive(QueryableByName)]
struct Note {
    #[diesel(sql_type = Text)]
    text: String,
}

async fn create_notes(
    _t: TenantId,
    mut conn: tenantpool_core::PooledConnection<AsyncPgConnection>,
) -> Result<(), BoxError> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS notes (id SERIAL PRIMARY KEY, text TEXT NOT NULL)",
    )
    .await?;
    Ok(())
}

fn tenants() -> Vec<TenantId> {
    vec![
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    ]
}

fn registry(directory: TemplateDirectory) -> Registry<AsyncPgConnection> {
    Registry::<AsyncPgConnection>::builder(Settings::from_toml_str(SETTINGS).unwrap())
        .directory(directory.allow(tenants()))
        .on_tenant_start(create_notes)
        .build()
        .unwrap()
}

async fn add_note(mut conn: TenantConn<AsyncPgConnection>, body: String) -> HttpResponse {
    match diesel::sql_query("INSERT INTO notes (text) VALUES ($1)")
        .bind::<Text, _>(body)
        .execute(&mut conn)
        .await
    {
        Ok(_) => HttpResponse::Created().finish(),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn list_notes(mut conn: TenantConn<AsyncPgConnection>) -> HttpResponse {
    match diesel::sql_query("SELECT text FROM notes ORDER BY id")
        .load::<Note>(&mut conn)
        .await
    {
        Ok(notes) => HttpResponse::Ok().json(notes.into_iter().map(|n| n.text).collect::<Vec<_>>()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn current_database<R: tenantpool_actix::Role>(
    mut conn: TenantConn<AsyncPgConnection, R>,
) -> HttpResponse {
    match diesel::select(diesel::dsl::sql::<Text>("current_database()"))
        .get_result::<String>(&mut conn)
        .await
    {
        Ok(db) => HttpResponse::Ok().body(db),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn panics(mut conn: TenantConn<AsyncPgConnection>) -> HttpResponse {
    <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(&mut *conn)
        .await
        .unwrap();
    diesel::sql_query("INSERT INTO notes (text) VALUES ('written before a panic')")
        .execute(&mut conn)
        .await
        .unwrap();
    panic!("a bug in a handler, in the middle of a transaction");
}

async fn fails(mut conn: TenantConn<AsyncPgConnection>) -> Result<HttpResponse, actix_web::Error> {
    (*conn)
        .transaction::<(), diesel::result::Error, _>(async |c| {
            diesel::sql_query("INSERT INTO notes (text) VALUES ('written before an error')")
                .execute(c)
                .await?;
            diesel::sql_query("SELECT * FROM no_such_table")
                .execute(c)
                .await?;
            Ok(())
        })
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().finish())
}

async fn sleeps(mut conn: TenantConn<AsyncPgConnection>, secs: web::Path<f64>) -> HttpResponse {
    match diesel::sql_query(format!("SELECT pg_sleep({})", secs.into_inner()))
        .execute(&mut conn)
        .await
    {
        Ok(_) => HttpResponse::Ok().body("slept"),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn header_resolver() -> Resolver {
    Resolver::builder().header("X-Tenant-Id").build().unwrap()
}

macro_rules! notes_app {
    ($registry:expr) => {{
        let registry = $registry.clone();
        move || {
            App::new()
                .app_data(TenantRegistry::new(registry.clone()))
                .wrap(ResolveTenant::new(header_resolver()))
                .route("/notes", web::get().to(list_notes))
                .route("/notes", web::post().to(add_note))
                .route(
                    "/db",
                    web::get().to(current_database::<tenantpool_actix::Primary>),
                )
                .route("/panic", web::get().to(panics))
                .route("/fail", web::get().to(fails))
                .route("/sleep/{secs}", web::get().to(sleeps))
        }
    }};
}

/// Interleaves writes of both tenants, then interleaves reads, all concurrently.
async fn assert_isolated(addr: std::net::SocketAddr) {
    let writes = (0..20).map(|i| {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        async move {
            let resp = client()
                .post(format!("http://{addr}/notes"))
                .insert_header(("X-Tenant-Id", tenant))
                .send_body(format!("{tenant}-{i}"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 201, "{tenant}-{i}");
        }
    });
    join_all(writes).await;
    let reads = (0..10).map(|i| async move {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        let (status, _, body) = get(addr, "/notes", &[("X-Tenant-Id", tenant)]).await;
        assert_eq!(status, 200, "{body}");
        let notes: Vec<String> = serde_json::from_str(&body).unwrap();
        assert_eq!(notes.len(), 10, "{tenant}: {notes:?}");
        assert!(
            notes.iter().all(|n| n.starts_with(&format!("{tenant}-"))),
            "{tenant} sees {notes:?}"
        );
    });
    join_all(reads).await;
}

/// A database for each of acme and globex, and a tag for the app's connections.
async fn databases_per_tenant(server: &PgServer, prefix: &str) -> Result<(Databases, Tag), Error> {
    let dbs = server
        .throwaway_databases(prefix, &["acme", "globex"])
        .await?;
    Ok((dbs, server.tag(prefix).await?))
}

/// A database-per-tenant directory over `dbs`, its connections tagged `tag`.
fn database_template(server: &PgServer, dbs: &Databases, tag: &str) -> TemplateDirectory {
    TemplateDirectory::database(&server.url(&dbs.name("{tenant}"), tag)).unwrap()
}

#[actix_web::test]
async fn tenants_never_see_each_others_notes_with_a_database_each() -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let (dbs, tag) = databases_per_tenant(&server, "tpa_dbiso").await?;
    let registry = registry(database_template(&server, &dbs, &tag));
    let (addr, _h) = spawn_server!(notes_app!(registry));
    assert_isolated(addr).await;
    let (_, _, db) = get(addr, "/db", &[("X-Tenant-Id", "globex")]).await;
    assert_eq!(db, dbs.name("globex"));
    assert!(
        server.count(&tag).await? <= 6,
        "the budget caps server-side connections"
    );
    registry.shutdown(Duration::from_secs(5)).await;
    dbs.remove().await
}

#[actix_web::test]
async fn tenants_never_see_each_others_notes_with_a_schema_each() -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let db = server.throwaway_database("tpa_schemaiso").await?;
    let tag = server.tag("tpa_schemaiso").await?;
    let registry = registry(
        TemplateDirectory::schema(&server.url(db.name(), &tag), "{tenant}")
            .unwrap()
            .allow(["acme", "globex"].map(|k| TenantId::parse(k).unwrap()))
            .creating_missing(),
    );
    let (addr, _h) = spawn_server!(notes_app!(registry));
    assert_isolated(addr).await;
    // One shared pool for the database, within its size.
    let stats = registry.stats();
    assert_eq!(stats.pools.len(), 1);
    assert!(server.count(&tag).await? <= 2);
    registry.shutdown(Duration::from_secs(5)).await;
    db.remove().await
}

#[actix_web::test]
async fn each_route_uses_the_registry_its_extractor_names() -> Result<(), Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(());
    };
    let dbs = server
        .throwaway_databases("tpa_roles", &["acme", "r_acme"])
        .await?;
    let tag = server.tag("tpa_roles").await?;
    let primary =
        registry(TemplateDirectory::database(&server.url(&dbs.name("{tenant}"), &tag)).unwrap());
    let replica =
        registry(TemplateDirectory::database(&server.url(&dbs.name("r_{tenant}"), &tag)).unwrap());
    let (p, r) = (primary.clone(), replica.clone());
    let (addr, _h) = spawn_server!(move || {
        App::new()
            .app_data(TenantRegistry::new(p.clone()))
            .app_data(TenantRegistry::<AsyncPgConnection, Replica>::with_role(
                r.clone(),
            ))
            .wrap(ResolveTenant::new(header_resolver()))
            .route(
                "/db",
                web::get().to(current_database::<tenantpool_actix::Primary>),
            )
            .route("/replica/db", web::get().to(current_database::<Replica>))
    });
    let (_, _, db) = get(addr, "/db", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(db, dbs.name("acme"));
    let (_, _, db) = get(addr, "/replica/db", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(db, dbs.name("r_acme"));
    primary.shutdown(Duration::from_secs(5)).await;
    replica.shutdown(Duration::from_secs(5)).await;
    server
        .assert_no_connections(&tag, Duration::from_secs(10))
        .await?;
    dbs.remove().await
}

/// What the error-path tests need: a database-per-tenant registry for `acme`, on the server,
/// its connections tagged.
struct ErrorPath {
    server: PgServer,
    tag: Tag,
    registry: Registry<AsyncPgConnection>,
    _dbs: Databases,
}

/// Starts an [`ErrorPath`]; `None` after the CI rule.
async fn error_path_setup(prefix: &str) -> Result<Option<ErrorPath>, Error> {
    let Some(server) = PgServer::from_env().await else {
        return Ok(None);
    };
    let (dbs, tag) = databases_per_tenant(&server, prefix).await?;
    let registry = registry(database_template(&server, &dbs, &tag));
    assert_eq!(server.count(&tag).await?, 0, "baseline");
    Ok(Some(ErrorPath {
        server,
        tag,
        registry,
        _dbs: dbs,
    }))
}

/// No checked-out connection left, the app still serves, and once the tenant is evicted the
/// server-side count is back at its baseline of zero: nothing leaked a connection.
async fn assert_back_at_baseline(
    path: &ErrorPath,
    addr: std::net::SocketAddr,
) -> Result<(), Error> {
    let registry = &path.registry;
    wait_for(
        "every connection back in its pool",
        Duration::from_secs(15),
        || registry.stats().pools.iter().all(|p| p.in_use == 0),
    )
    .await;
    let (status, _, body) = get(addr, "/notes", &[("X-Tenant-Id", "acme")]).await;
    assert_eq!(status, 200, "{body}");
    let notes: Vec<String> = serde_json::from_str(&body).unwrap();
    assert!(
        notes.is_empty(),
        "an aborted transaction was committed: {notes:?}"
    );
    registry.evict(&TenantId::parse("acme").unwrap());
    registry.run_maintenance();
    path.server
        .assert_no_connections(&path.tag, Duration::from_secs(15))
        .await?;
    Ok(())
}

#[actix_web::test]
async fn a_panicking_handler_leaks_no_connection() -> Result<(), Error> {
    let Some(path) = error_path_setup("tpa_panic").await? else {
        return Ok(());
    };
    let (addr, _h) = spawn_server!(notes_app!(path.registry));
    for _ in 0..3 {
        // The client sees a 500 or, when the panicking task took the connection with it, an
        // error; either way it gets no 2xx.
        let sent = client()
            .get(format!("http://{addr}/panic"))
            .insert_header(("X-Tenant-Id", "acme"))
            .send()
            .await;
        if let Ok(resp) = sent {
            assert_eq!(resp.status(), 500);
        }
    }
    assert!(path.registry.stats().counters.discarded_dirty >= 3);
    assert_back_at_baseline(&path, addr).await
}

#[actix_web::test]
async fn a_handler_returning_an_error_leaks_no_connection() -> Result<(), Error> {
    let Some(path) = error_path_setup("tpa_error").await? else {
        return Ok(());
    };
    let (addr, _h) = spawn_server!(notes_app!(path.registry));
    for _ in 0..5 {
        let (status, _, _) = get(addr, "/fail", &[("X-Tenant-Id", "acme")]).await;
        assert_eq!(status, 500);
    }
    assert_back_at_baseline(&path, addr).await
}

#[actix_web::test]
async fn a_client_disconnecting_mid_query_leaks_no_connection() -> Result<(), Error> {
    let Some(path) = error_path_setup("tpa_disconnect").await? else {
        return Ok(());
    };
    let (addr, _h) = spawn_server!(notes_app!(path.registry));
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /sleep/2 HTTP/1.1\r\nHost: localhost\r\nX-Tenant-Id: acme\r\n\r\n")
            .await
            .unwrap();
        // Wait until the query runs on the server, then hang up.
        let (running, _) = wait_until(
            Duration::from_secs(10),
            || path.server.count_running(&path.tag, "SELECT pg_sleep"),
            |n| matches!(n, Ok(1)),
        )
        .await;
        assert_eq!(running?, 1, "the sleeping query never started");
        drop(stream);
    }
    assert_back_at_baseline(&path, addr).await
}

#[actix_web::test]
async fn graceful_shutdown_lets_requests_finish_then_closes_every_connection() -> Result<(), Error>
{
    let Some(pg) = PgServer::from_env().await else {
        return Ok(());
    };
    let (dbs, tag) = databases_per_tenant(&pg, "tpa_shutdown").await?;
    let registry = registry(database_template(&pg, &dbs, &tag));
    let (addr, handle, server) = serve!(notes_app!(registry));
    let closing = actix_web::rt::spawn(
        GracefulShutdown::new(Duration::from_secs(5))
            .registry(registry.clone())
            .run(server),
    );
    // Both tenants, two connections each.
    let warm = ["acme", "acme", "globex", "globex"]
        .map(|t| async move { get(addr, "/sleep/0.3", &[("X-Tenant-Id", t)]).await.0 });
    assert_eq!(join_all(warm).await, vec![200; 4]);
    let open = pg.count(&tag).await?;
    assert!(
        (2..=4).contains(&open),
        "{open} connections after warming two tenants"
    );

    // A request in flight when the stop comes still completes.
    let in_flight =
        actix_web::rt::spawn(
            async move { get(addr, "/sleep/1", &[("X-Tenant-Id", "acme")]).await },
        );
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
    handle.stop(true).await;
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "slept"));

    let reports = closing.await.unwrap().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].clean, "{:?}", reports[0]);
    assert_eq!(reports[0].pools_closed, 2);
    pg.assert_no_connections(&tag, Duration::from_secs(10))
        .await?;
    dbs.remove().await
}
