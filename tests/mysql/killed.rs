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
use crate::twins::twins;
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
