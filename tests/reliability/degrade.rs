//! Graceful degradation: one tenant's database hangs (a listener that accepts and never
//! answers), another's refuses connections; a third tenant on the live server keeps
//! answering 2xx meanwhile, and the dark tenants' requests end in 503 once their connect
//! timeout passes.

use std::time::{Duration, Instant};

use tenantpool::{DatabaseUrl, Registry, Settings, StaticDirectory, TenantId, TenantTarget};

use tenantpool_testkit::{refused_port, Error, HangingServer, PgServer, TestServer};

use crate::app::{self, Pg};
use crate::support::{self, client, get, percentiles};

#[actix_web::test]
async fn a_hanging_and_a_refusing_server_do_not_hold_up_tenants_on_a_live_one() -> Result<(), Error>
{
    let _heavy = support::heavy().await;
    let Some(admin) = PgServer::from_env().await else {
        return Ok(());
    };
    let app_name = admin.tag("tpr_degrade").await?;
    let db = admin.throwaway_database("tpr_degrade_lit").await?;
    let hole = HangingServer::start().await?;
    let refused = refused_port()?;
    let target = |url: String| TenantTarget::database(DatabaseUrl::parse(&url).expect("url"));
    let directory = StaticDirectory::new()
        .with(
            TenantId::parse("lit").expect("key"),
            target(admin.url(db.name(), &app_name)),
        )
        .with(
            TenantId::parse("dark").expect("key"),
            target(format!(
                "postgres://postgres@{}/x?application_name={app_name}",
                hole.addr()
            )),
        )
        .with(
            TenantId::parse("refused").expect("key"),
            target(format!(
                "postgres://postgres@127.0.0.1:{refused}/x?application_name={app_name}"
            )),
        );
    let connect_timeout = Duration::from_secs(2);
    let mut s = Settings::default();
    s.budget.max_connections = 4;
    s.pool.max_size = 3;
    s.pool.connect_timeout = connect_timeout;
    s.pool.checkout_timeout = Duration::from_secs(5);
    let registry = Registry::<Pg>::builder(s)
        .directory(directory)
        .build()
        .expect("registry");
    let (addr, handle, served) = app::serve(&registry, 1, Duration::from_secs(5));
    // Warm the live tenant.
    let http = client(Duration::from_secs(30));
    assert_eq!(
        get(&http, addr, "/q", ("X-Tenant-Id", "lit")).await.status,
        200
    );

    // Twenty requests for each dark tenant, all in flight at once.
    let started = Instant::now();
    let dark: Vec<_> = ["dark", "refused"]
        .iter()
        .flat_map(|key| (0..20).map(move |_| *key))
        .map(|key| {
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(30));
                let a = get(&http, addr, "/q", ("X-Tenant-Id", key)).await;
                (key, a, started.elapsed())
            })
        })
        .collect();
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;

    // Meanwhile: the live tenant, four clients in parallel, 300 requests.
    let lit: Vec<_> = (0..4)
        .map(|_| {
            let lit_db = db.name().to_string();
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(30));
                let mut took = Vec::new();
                for _ in 0..75 {
                    let a = get(&http, addr, "/q", ("X-Tenant-Id", "lit")).await;
                    assert_eq!((a.status, a.body.as_str()), (200, lit_db.as_str()), "{a:?}");
                    took.push(a.took);
                }
                took
            })
        })
        .collect();
    let mut lit_took = Vec::new();
    for t in lit {
        lit_took.extend(t.await.expect("lit client"));
    }
    let lit_done = started.elapsed();
    let hanging = dark.iter().filter(|t| !t.is_finished()).count();
    assert!(
        hanging >= 20,
        "the dark requests did not hang while the live tenant was served ({hanging} still in flight); the test proves nothing"
    );
    let mut dark_times = Vec::new();
    let mut refused_times = Vec::new();
    for t in dark {
        let (key, a, at) = t.await.expect("dark client");
        assert_eq!(a.status, 503, "{key}: {a:?}");
        assert!(a.retry_after.is_some(), "{key}: {a:?}");
        assert!(
            !a.body.contains("127.0.0.1"),
            "a server address in the body: {}",
            a.body
        );
        if key == "dark" {
            assert!(
                at >= connect_timeout - Duration::from_millis(200),
                "{key} answered after {at:?}, before its connect timeout"
            );
            dark_times.push(at);
        } else {
            refused_times.push(at);
        }
    }
    let (p50, p99, max) = percentiles(lit_took);
    let (_, _, dark_max) = percentiles(dark_times.clone());
    let (_, _, refused_max) = percentiles(refused_times);
    eprintln!(
        "FIGURES degrade: lit_requests=300 in {lit_done:?} latency_ms p50={p50:.1} p99={p99:.1} max={max:.1} \
         while {hanging} dark requests hung; dark 503 after min={:?} max={dark_max:.0}ms; refused 503 max={refused_max:.0}ms",
        dark_times.iter().min().copied().unwrap_or_default()
    );
    handle.stop(true).await;
    let reports = served.await.expect("server task").expect("server");
    assert!(reports.iter().all(|r| r.clean), "{reports:?}");
    drop(hole);
    let (left, _) = admin
        .wait_for_zero(&app_name, Duration::from_secs(10))
        .await?;
    assert_eq!(left, 0);
    Ok(())
}
