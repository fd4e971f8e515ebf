//! I8 on a real server: backends terminated by the server (`pg_terminate_backend`, as a
//! failover, an idle-session timeout or an administrator does) never reach a client as a
//! 500. Killed while idle, they cost no request an error; killed under load, requests get
//! their rows or a 503-class error (the connection was lost mid-request), and the service is
//! back within a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantpool::{ErrorKind, Registry, TemplateDirectory};
use tenantpool_testkit::PgServer;

use crate::common::{
    hold, one_tenant, registry, settings, tenant, wait_until, Fixture, TestResult,
};
use crate::{database_with_schemas, text, Pg};

/// What a stream of requests met.
#[derive(Default)]
struct Outcomes {
    ok: AtomicU64,
    /// 503-class: the checkout said unavailable, or the query lost its connection.
    unavailable: AtomicU64,
    /// Anything else: a 500 over HTTP.
    other: AtomicU64,
}

/// One request: a checkout for `key` and a query; how it ended.
async fn request(registry: &Registry<Pg>, key: &str, outcomes: &Outcomes) -> bool {
    match registry.get(&tenant(key)).await {
        Ok(mut conn) => {
            use diesel_async::RunQueryDsl;
            match diesel::sql_query("SELECT 1").execute(&mut conn).await {
                Ok(_) => {
                    outcomes.ok.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(e) if tenantpool::is_connection_error(&e) || conn.is_lost() => {
                    outcomes.unavailable.fetch_add(1, Ordering::Relaxed);
                    false
                }
                Err(e) => {
                    eprintln!("query error: {e}");
                    outcomes.other.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        }
        Err(e) if e.kind() == ErrorKind::Unavailable => {
            outcomes.unavailable.fetch_add(1, Ordering::Relaxed);
            false
        }
        Err(e) => {
            eprintln!("checkout error: {e}");
            outcomes.other.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// Warms `n` connections per key, terminates every backend of the tag, waits until the server
/// lists none, then sends 10 requests per key: all must succeed.
async fn killed_while_idle(
    t: &Fixture<PgServer>,
    registry: &Registry<Pg>,
    keys: &[&str],
    n: usize,
) -> TestResult {
    for key in keys {
        drop(hold(registry, key, n).await);
    }
    let killed = t.server.terminate(t.tag.name()).await?;
    assert!(killed >= 1, "no backend to terminate");
    let (left, waited) =
        wait_until(Duration::from_secs(5), || t.count(), |n| matches!(n, Ok(0))).await;
    assert_eq!(
        left?, 0,
        "terminated backends still listed after {waited:?}"
    );
    let outcomes = Outcomes::default();
    for round in 0..10 {
        for key in keys {
            assert!(
                request(registry, key, &outcomes).await,
                "round {round}, {key}: a request met a terminated connection"
            );
        }
    }
    assert_eq!(outcomes.ok.load(Ordering::Relaxed), 10 * keys.len() as u64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_killed_while_idle_cost_no_request_an_error() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_killed_idle", 6).await? else {
        return Ok(());
    };
    // Database mode.
    let (_db, r) = one_tenant::<Pg, _>(&t, "tp_killed_idle", "acme", settings(4, 4)).await?;
    killed_while_idle(&t, &r, &["acme"], 4).await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;

    // Schema mode: connections idle on one schema, then checkouts that switch.
    let keys = ["ka", "kb", "kc"];
    let db = database_with_schemas(&t.server, "tp_killed_idle", &keys).await?;
    let dir = TemplateDirectory::schema(&t.url(db.name()), "{tenant}").expect("template");
    let mut s = settings(4, 4);
    s.pool.tenant_max_in_use = Some(4);
    let r = registry::<Pg>(s, dir);
    killed_while_idle(&t, &r, &keys, 4).await?;
    let mut conn = r.get(&tenant("kb")).await.expect("checkout");
    assert_eq!(
        text(&mut conn, "SELECT owner AS value FROM item").await,
        "kb"
    );
    drop(conn);
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

/// Eight clients in a loop for `keys` while every backend of the tag is terminated every
/// 250 ms for two seconds; then how long until every client is served again.
async fn killed_under_load(
    t: &Fixture<PgServer>,
    registry: &Registry<Pg>,
    keys: &[&'static str],
) -> TestResult {
    let outcomes = Arc::new(Outcomes::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..8 {
        let (registry, outcomes, stop) = (registry.clone(), outcomes.clone(), stop.clone());
        let key = keys[i % keys.len()];
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                request(&registry, key, &outcomes).await;
            }
        }));
    }
    let mut kills = 0;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        kills += t.server.terminate(t.tag.name()).await?;
    }
    let last_kill = Instant::now();
    // Back to service: one request per key succeeds, within a second of the last kill.
    let probe = Outcomes::default();
    for key in keys {
        let (served, _) = wait_until(
            Duration::from_secs(1),
            || request(registry, key, &probe),
            |ok| *ok,
        )
        .await;
        assert!(served, "{key} not served again within 1 s of the last kill");
    }
    let back_after = last_kill.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    let (ok, unavailable, other) = (
        outcomes.ok.load(Ordering::Relaxed),
        outcomes.unavailable.load(Ordering::Relaxed),
        outcomes.other.load(Ordering::Relaxed),
    );
    eprintln!(
        "FIGURES killed_under_load keys={} kills={kills} ok={ok} unavailable={unavailable} other={other} back_after={back_after:?}",
        keys.len()
    );
    assert!(kills >= 1, "nothing was killed");
    assert!(ok > 0, "nothing was served");
    assert_eq!(other, 0, "requests ended with a 500-class error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_killed_under_load_answer_only_rows_or_unavailable() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_killed_load", 6).await? else {
        return Ok(());
    };
    let (_db, r) = one_tenant::<Pg, _>(&t, "tp_killed_load", "acme", settings(4, 4)).await?;
    killed_under_load(&t, &r, &["acme"]).await?;
    r.shutdown(Duration::from_secs(5)).await;

    let keys = ["la", "lb", "lc"];
    let db = database_with_schemas(&t.server, "tp_killed_load", &keys).await?;
    let dir = TemplateDirectory::schema(&t.url(db.name()), "{tenant}").expect("template");
    let r = registry::<Pg>(settings(4, 4), dir);
    killed_under_load(&t, &r, &keys).await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
