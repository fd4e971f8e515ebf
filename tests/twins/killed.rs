//! Sessions ended by the server (`pg_terminate_backend`, `KILL`: as a failover, an idle-session
//! timeout or an administrator does) never reach a client as a 500. Killed while idle in schema
//! mode, they cost no request an error (the switch finds them out before hand-over); killed
//! under load, requests get their rows or a 503-class error (the connection was lost
//! mid-request), and the service is back within a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantpool::{ErrorKind, Registry};

use super::Dialect;
use crate::common::{
    hold, one_tenant, registry, settings, tenant, wait_until, Fixture, TestResult,
};

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
async fn request<D: Dialect>(registry: &Registry<D::Conn>, key: &str, outcomes: &Outcomes) -> bool {
    match registry.get(&tenant(key)).await {
        Ok(mut conn) => match D::execute(&mut conn, "SELECT 1").await {
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
        },
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

/// Warms `n` connections per key, leaves them idle for `idle`, terminates every backend of
/// the tag, waits until the server lists none, then sends 10 requests per key: all must
/// succeed.
pub async fn killed_while_idle<D: Dialect>(
    t: &Fixture<D::Server>,
    registry: &Registry<D::Conn>,
    keys: &[&str],
    n: usize,
    idle: Duration,
) -> TestResult {
    for key in keys {
        drop(hold(registry, key, n).await);
    }
    tokio::time::sleep(idle).await;
    let killed = D::kill_all(t).await?;
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
                request::<D>(registry, key, &outcomes).await,
                "round {round}, {key}: a request met a terminated connection"
            );
        }
    }
    assert_eq!(outcomes.ok.load(Ordering::Relaxed), 10 * keys.len() as u64);
    Ok(())
}

/// Eight clients in a loop for `keys` while every backend of the tag is terminated every
/// 250 ms for two seconds; then how long until every client is served again.
async fn killed_under_load<D: Dialect>(
    t: &Fixture<D::Server>,
    registry: &Registry<D::Conn>,
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
                request::<D>(&registry, key, &outcomes).await;
            }
        }));
    }
    let mut kills = 0;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        kills += D::kill_all(t).await?;
    }
    let last_kill = Instant::now();
    // Back to service: one request per key succeeds, within a second of the last kill.
    let probe = Outcomes::default();
    for key in keys {
        let (served, _) = wait_until(
            Duration::from_secs(1),
            || request::<D>(registry, key, &probe),
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

pub async fn sessions_killed_while_idle_cost_no_schema_mode_request_an_error<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_killed_idle", 6).await? else {
        return Ok(());
    };
    // Connections idle on one schema, killed, then checkouts that switch: the switch finds
    // each dead connection out before hand-over.
    let keys = ["ka", "kb", "kc"];
    let schemas = D::schemas(&t, "tp_killed_idle", &keys).await?;
    let mut s = settings(4, 4);
    s.pool.tenant_max_in_use = Some(4);
    let r = registry::<D::Conn>(s, schemas.template());
    killed_while_idle::<D>(&t, &r, &keys, 4, Duration::ZERO).await?;
    let mut conn = r.get(&tenant("kb")).await.expect("checkout");
    let owner = D::text(&mut conn, "SELECT owner AS value FROM item").await;
    assert_eq!(owner, schemas.tenants[1].1, "kb read another tenant's row");
    drop(conn);
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn sessions_killed_under_load_answer_only_rows_or_unavailable<D: Dialect>() -> TestResult
{
    let Some(t) = Fixture::<D::Server>::start("tp_killed_load", 6).await? else {
        return Ok(());
    };
    let (_db, r) = one_tenant::<D::Conn, _>(&t, "tp_killed_load", "acme", settings(4, 4)).await?;
    killed_under_load::<D>(&t, &r, &["acme"]).await?;
    r.shutdown(Duration::from_secs(5)).await;

    let keys = ["la", "lb", "lc"];
    let schemas = D::schemas(&t, "tp_killed_load", &keys).await?;
    let r = registry::<D::Conn>(settings(4, 4), schemas.template());
    killed_under_load::<D>(&t, &r, &keys).await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
