//! Cancellation at every await point of a transaction: BEGIN, each statement, COMMIT. The
//! transaction future is dropped after its k-th pending poll, for every k until it completes,
//! so every suspension point is hit once. After each drop, the next user of the pool never
//! sees an open transaction or a held lock, and the row is either fully committed or absent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};

use tenantpool_testkit::PgServer;

use crate::common::{one_tenant, settings, tenant, Fixture, TestResult};
use crate::{in_transaction, Num, Pg};

/// Polls the inner future until it has returned `Pending` `pending_polls` times, then gives up
/// (and drops it) at its next wake-up: a cancellation exactly at that suspension point.
struct DropAfter<F> {
    inner: Option<Pin<Box<F>>>,
    pending_polls: usize,
}

impl<F: Future> Future for DropAfter<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.pending_polls == 0 {
            self.inner = None;
            return Poll::Ready(None);
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => {
                self.pending_polls -= 1;
                Poll::Pending
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_transaction_at_any_await_point_leaves_the_pool_clean() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_cancel_points", 6).await? else {
        return Ok(());
    };
    let (_db, registry) = one_tenant::<Pg, _>(&t, "tp_cancel_points", "c", settings(3, 1)).await?;
    {
        let mut conn = registry.get(&tenant("c")).await.expect("setup");
        conn.batch_execute("CREATE TABLE ledger (k int PRIMARY KEY, v int NOT NULL); INSERT INTO ledger VALUES (0, 0);")
            .await
            .expect("table");
    }

    let mut completed_at = None;
    for k in 0..200usize {
        let r = registry.clone();
        let txn = async move {
            let mut conn = r.get(&tenant("c")).await.expect("checkout");
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query("UPDATE ledger SET v = v + 1 WHERE k = 0")
                    .execute(conn)
                    .await?;
                diesel::sql_query(format!("INSERT INTO ledger VALUES ({}, 1)", k + 1))
                    .execute(conn)
                    .await?;
                Ok(())
            })
            .await
        };
        let outcome = DropAfter {
            inner: Some(Box::pin(txn)),
            pending_polls: k,
        }
        .await;

        // Whatever happened, the next user sees a clean connection and no held lock.
        let mut next = tokio::time::timeout(Duration::from_secs(10), registry.get(&tenant("c")))
            .await
            .expect("the next checkout must not hang")
            .expect("next checkout");
        assert!(
            !in_transaction(&mut next).await,
            "k={k}: next user is inside a transaction"
        );
        next.batch_execute("SET lock_timeout = '3s'")
            .await
            .expect("set");
        diesel::sql_query("UPDATE ledger SET v = v WHERE k = 0")
            .execute(&mut next)
            .await
            .unwrap_or_else(|e| panic!("k={k}: the row lock is still held: {e}"));
        next.batch_execute("RESET lock_timeout")
            .await
            .expect("reset");
        // Atomicity: the counter row equals the number of inserted rows.
        let total: Num = diesel::sql_query(
            "SELECT (SELECT v FROM ledger WHERE k = 0)::int8 - (SELECT count(*) FROM ledger WHERE k > 0) AS n",
        )
        .get_result(&mut next)
        .await
        .expect("consistency query");
        assert_eq!(total.n, 0, "k={k}: half a transaction was committed");
        drop(next);

        if let Some(result) = outcome {
            result.unwrap_or_else(|e| panic!("k={k}: the uncancelled transaction failed: {e}"));
            completed_at = Some(k);
            break;
        }
    }
    let points = completed_at.expect("the transaction never completed within 200 polls");
    assert!(
        points >= 3,
        "only {points} suspension points: BEGIN, statements and COMMIT each suspend"
    );
    let c = registry.stats().counters;
    eprintln!(
        "FIGURES cancel_points: suspension_points={points} discarded_dirty={} connections_created={}",
        c.discarded_dirty, c.connections_created
    );
    assert!(
        c.discarded_dirty >= 1,
        "no cancelled transaction was discarded"
    );
    let budget = &registry.stats().budgets[0];
    assert!(budget.open <= budget.limit);
    Ok(())
}
