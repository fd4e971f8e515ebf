//! `budget.replicas`: the caps are the service's, each process takes its share, and a process
//! reads on its first connection what the server accepts (shown in the stats beside the
//! service's total).

use std::time::Duration;

use super::Dialect;
use crate::common::{hold, settings, tenant, two_tenants, Fixture, TestResult};

pub async fn a_replica_opens_only_its_share_and_reads_what_the_server_accepts<D: Dialect>(
) -> TestResult {
    let Some(t) = Fixture::<D::Server>::start("tp_replicas", 3).await? else {
        return Ok(());
    };
    // The service's cap is 8 over 4 replicas: this process may open 2.
    let mut s = settings(8, 4);
    s.budget.replicas = 4;
    s.pool.checkout_timeout = Duration::from_millis(300);
    let (_dbs, registry) = two_tenants::<D::Conn, _>(&t, "tp_replicas", s).await?;

    let mut held = hold(&registry, "a", 2).await;
    let stats = registry.stats();
    let budget = &stats.budgets[0];
    assert_eq!((budget.limit, budget.service_total, budget.open), (2, 8, 2));
    assert_eq!(t.count().await?, 2, "sessions on the server");

    // A third connection, for another tenant, is beyond the share: a's two are in use, so
    // there is nothing to steal, and the checkout fails after its timeout.
    let err = registry
        .get(&tenant("b"))
        .await
        .expect_err("a third connection is beyond this process's share");
    assert_eq!(err.kind().http_status(), 503, "{err:?}");
    assert_eq!(t.count().await?, 2, "sessions on the server");

    // What the server accepts, as its own settings say.
    let accepts: u64 = D::text(&mut held[0], D::ACCEPTS)
        .await
        .parse()
        .expect("a number");
    assert!(accepts > 0);
    assert_eq!(registry.stats().budgets[0].server_accepts, Some(accepts));

    drop(held);
    registry.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
