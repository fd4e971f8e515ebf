//! Sessions killed by the server (`KILL CONNECTION`): the twins, and database mode killed while
//! idle. mysql_async cannot see a socket the server closed until it reads from it, so a
//! connection idle past `pool.validate_after_idle` (500 ms by default on MySQL) is checked with
//! a round trip before hand-over; one killed within that window of its last use fails the one
//! request that next uses it with a 503-class error (covered by the twin's "only rows or
//! 503-class" check under load).

use std::time::Duration;

use tenantpool::config::PoolSettings;
use tenantpool::BackendKind;
use tenantpool_testkit::MySqlServer;

use crate::common::{one_tenant, settings, Fixture, TestResult};
use crate::twins::killed::killed_while_idle;
use crate::twins::{twins, Dialect};
use crate::{My, MySql};

twins!(MySql, killed, threads = 2:
    sessions_killed_while_idle_cost_no_schema_mode_request_an_error,
    sessions_killed_under_load_answer_only_rows_or_unavailable,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_killed_after_idling_past_the_window_cost_no_database_mode_request_an_error(
) -> TestResult {
    let Some(t) = Fixture::<MySqlServer>::start("tp_killed_db", 6).await? else {
        return Ok(());
    };
    let s = settings(4, 4);
    let window = s.pool.validate_after_idle_for(BackendKind::Mysql);
    assert_eq!(window, PoolSettings::MYSQL_VALIDATE_AFTER_IDLE);
    let (_db, r) = one_tenant::<My, _>(&t, "tp_killed_db", "acme", s).await?;
    killed_while_idle::<MySql>(&t, &r, &["acme"], 4, window + Duration::from_millis(100)).await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_killed_within_the_window_cost_one_request_per_pool_not_one_per_session(
) -> TestResult {
    use diesel_async::RunQueryDsl;
    let Some(t) = Fixture::<MySqlServer>::start("tp_killed_window", 6).await? else {
        return Ok(());
    };
    // A window longer than the test: no connection is validated for having idled.
    let mut s = settings(4, 4);
    s.pool.validate_after_idle = Some(Duration::from_secs(60));
    let (_db, r) = one_tenant::<My, _>(&t, "tp_killed_window", "acme", s).await?;
    drop(crate::common::hold(&r, "acme", 4).await);
    let killed = MySql::kill_all(&t).await?;
    assert_eq!(killed, 4);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..10 {
        let mut conn = r
            .get(&crate::common::tenant("acme"))
            .await
            .expect("checkout");
        match diesel::sql_query("SELECT 1").execute(&mut *conn).await {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(
                    tenantpool::is_connection_error(&e),
                    "not a lost connection: {e}"
                );
                failed += 1;
            }
        }
    }
    // The first request meets a dead session; its loss makes the pool validate the three
    // others before handing them out.
    assert!(failed <= 1, "{failed} requests met a killed session");
    assert_eq!(ok + failed, 10);
    // Every killed session left the pool: discarded after its failure, found dead by the
    // validation, or closed to make room under the budget.
    let c = r.stats().counters;
    assert!(
        c.discarded_dirty + c.discarded_broken + c.budget_steals >= 4,
        "{c:?}"
    );
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
