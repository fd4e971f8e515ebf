//! Lanes (`runtime.lanes`): each worker thread checks out from a sub-pool of its own, whose
//! connections it opened and drives; the lanes split the pool's size and close with it.

use std::collections::BTreeSet;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use tenantpool::Registry;

use crate::common::{self, pg};
use crate::{backend_pid, databases, registry, settings, tenant, Pg};

/// Runs `f` on a thread of its own with a current-thread runtime, as an actix worker does.
fn on_worker<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("worker runtime")
            .block_on(f())
    })
}

/// `tasks` concurrent loops of `rounds` checkouts each; the backend pids they were served by.
async fn load(registry: Registry<Pg>, tasks: usize, rounds: usize) -> BTreeSet<i32> {
    let acme = tenant("acme");
    let loops = (0..tasks).map(|_| {
        let registry = registry.clone();
        let acme = acme.clone();
        async move {
            let mut pids = BTreeSet::new();
            for _ in 0..rounds {
                let mut conn = registry.get(&acme).await.expect("checkout");
                pids.insert(backend_pid(&mut conn).await);
            }
            pids
        }
    });
    futures_util::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_thread_gets_connections_of_its_own_within_the_pool_size() {
    let _slots = common::reserve(6).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_lanes";
    admin.ensure_databases(&["tp_lanes".to_string()]).await;
    let mut s = settings(20, 4);
    s.runtime.lanes = 2;
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(s, databases(app, &[("acme", "tp_lanes")]));

    // A short-lived worker starts the tenant. The start's own connection (opened on the I/O
    // runtime) is closed once the start is done: it is not one a worker should use. The
    // worker's connection closes with the worker's runtime, which drove it.
    let r = registry.clone();
    on_worker(move || Box::pin(async move { drop(r.get(&tenant("acme")).await) }))
        .join()
        .expect("first worker");
    let (left, waited) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(
        left, 0,
        "connections left {waited:?} after the worker stopped"
    );

    let sampler = pg::sampler(app).await;
    let (r1, r2) = (registry.clone(), registry.clone());
    let first = on_worker(move || Box::pin(load(r1, 8, 40)));
    let second = on_worker(move || Box::pin(load(r2, 8, 40)));
    let first = first.join().expect("first worker");
    let second = second.join().expect("second worker");
    let (peak, samples) = sampler.finish().await;

    assert!(
        first.is_disjoint(&second),
        "the workers shared connections: {first:?} and {second:?}"
    );
    assert!(
        (1..=2).contains(&first.len()) && (1..=2).contains(&second.len()),
        "each lane holds at most half of max_size 4: {first:?}, {second:?}"
    );
    assert!(
        samples > 0 && peak <= 4,
        "server listed {peak} connections (max_size 4), over {samples} samples"
    );
    let stats = registry.stats();
    let mut lanes: Vec<(usize, usize)> = stats.pools.iter().map(|p| (p.lane, p.max_size)).collect();
    lanes.sort_unstable();
    assert_eq!(lanes, vec![(0, 2), (1, 2)], "two lanes of 2 connections");
    assert_eq!(stats.counters.pools_created, 2);

    // Both workers have stopped, and with them the tasks that drove their connections: a
    // new worker (lane 0 again, round robin) finds them closed and opens fresh ones.
    let r = registry.clone();
    let third = on_worker(move || Box::pin(load(r, 4, 10)))
        .join()
        .expect("third");
    assert!(
        third.is_disjoint(&first) && third.is_disjoint(&second),
        "a connection of a stopped worker was handed out: {third:?}"
    );
    let (listed, _) =
        common::wait_until(Duration::from_secs(5), || admin.count(app), |n| *n <= 2).await;
    assert!(
        listed <= 2,
        "{listed} connections listed, lane 0 holds at most 2"
    );

    // Evicting the tenant closes every lane.
    registry.evict(&tenant("acme"));
    registry.run_maintenance();
    let (left, waited) = admin.wait_for_zero(app, Duration::from_secs(5)).await;
    assert_eq!(left, 0, "connections left {waited:?} after the eviction");
    assert_eq!(registry.stats().counters.pools_closed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_draw_on_one_server_budget() {
    let _slots = common::reserve(4).await;
    let Some(admin) = pg::admin().await else {
        return;
    };
    let app = "tp_lanes_budget";
    admin.ensure_databases(&["tp_lanes".to_string()]).await;
    // Four lanes of 4 connections, but a budget of 3 for the server.
    let mut s = settings(3, 16);
    s.runtime.lanes = 4;
    s.cache.time_to_idle = Duration::from_secs(600);
    let registry = registry(s, databases(app, &[("acme", "tp_lanes")]));
    drop(registry.get(&tenant("acme")).await.expect("start"));

    let sampler = pg::sampler(app).await;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let r = registry.clone();
            on_worker(move || {
                Box::pin(async move {
                    let pids = load(r.clone(), 4, 20).await;
                    let mut conn = r.get(&tenant("acme")).await.expect("checkout");
                    diesel::sql_query("SELECT 1")
                        .execute(&mut conn)
                        .await
                        .expect("query");
                    pids
                })
            })
        })
        .collect();
    let served: Vec<usize> = workers
        .into_iter()
        .map(|w| w.join().expect("worker").len())
        .collect();
    let (peak, samples) = sampler.finish().await;
    assert!(
        served.iter().all(|n| *n > 0),
        "every worker was served: {served:?}"
    );
    assert!(
        samples > 0 && peak <= 3,
        "server listed {peak} connections with a budget of 3 across four lanes"
    );
    let stats = registry.stats();
    assert_eq!(stats.pools.len(), 4, "four lanes");
    assert!(stats.budgets.iter().all(|b| b.open <= 3));
}
