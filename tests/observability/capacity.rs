//! The capacity check (`budget.replicas`): a budget whose replicas together may open more
//! connections than the server accepts is warned about once, on the first connection, naming
//! the server and the figures; one that fits is not.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tenantpool::Settings;
use tenantpool_testkit::{Fixture, PgServer, TestServer};

use crate::common::{tenant, TestResult};
use crate::{logs, registry};

fn settings(max_connections: usize, replicas: usize) -> Settings {
    let mut s = Settings::default();
    s.budget.max_connections = max_connections;
    s.budget.replicas = replicas;
    s.pool.max_size = 2;
    s.runtime.io_threads = 1;
    s
}

/// The captured lines of the capacity check whose service total is `total` (a figure no
/// other test of this binary uses).
fn check_lines(total: usize) -> Vec<String> {
    logs()
        .lines_containing(&format!("service_total={total} "))
        .into_iter()
        .filter(|line| line.contains("tenantpool_core::capacity"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_above_what_the_server_accepts_is_warned_about_once() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_capacity", 3).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_capacity").await?;

    // 2 replicas × 1,001 each: more than any stock server accepts.
    let over = registry::<AsyncPgConnection>(settings(2002, 2), "capacity-over", &t.url(db.name()));
    let held = (
        over.get(&tenant("capacity-over")).await.expect("first"),
        over.get(&tenant("capacity-over")).await.expect("second"),
    );
    drop(held);
    let lines = check_lines(2002);
    assert_eq!(lines.len(), 1, "one check per server: {lines:#?}");
    let line = &lines[0];
    for field in [
        "WARN",
        "server=postgres://",
        "replicas=2",
        "per_process=1001",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    let accepts = over.stats().budgets[0]
        .server_accepts
        .expect("read on the first connection");
    assert!(
        line.contains(&format!("server_accepts={accepts}")),
        "{line}"
    );

    // 2 replicas × 2 each fits: no warning.
    let fits = registry::<AsyncPgConnection>(settings(4, 2), "capacity-fits", &t.url(db.name()));
    drop(fits.get(&tenant("capacity-fits")).await.expect("checkout"));
    let lines = check_lines(4);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(!lines[0].contains("WARN"), "{}", lines[0]);
    assert!(lines[0].contains("fits"), "{}", lines[0]);

    over.shutdown(Duration::from_secs(5)).await;
    fits.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    db.remove().await?;
    Ok(())
}
