//! Backends terminated by the server (`pg_terminate_backend`): the twins, and database mode
//! killed while idle, where PostgreSQL's driver sees the closed socket before the checkout.

use std::time::Duration;

use tenantpool_testkit::PgServer;

use crate::common::{one_tenant, settings, Fixture, TestResult};
use crate::twins::killed::killed_while_idle;
use crate::twins::twins;
use crate::{Pg, Postgres};

twins!(Postgres, killed, threads = 2:
    sessions_killed_while_idle_cost_no_schema_mode_request_an_error,
    sessions_killed_under_load_answer_only_rows_or_unavailable,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_killed_while_idle_cost_no_database_mode_request_an_error() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_killed_db", 6).await? else {
        return Ok(());
    };
    let (_db, r) = one_tenant::<Pg, _>(&t, "tp_killed_db", "acme", settings(4, 4)).await?;
    killed_while_idle::<Postgres>(&t, &r, &["acme"], 4, Duration::ZERO).await?;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
