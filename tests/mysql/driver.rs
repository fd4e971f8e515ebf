//! Connections opened by the registry behave like the ones diesel-async opens itself, so that
//! code written against `AsyncMysqlConnection::establish` keeps its meaning when pooled.

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};

use tenantpool_testkit::MySqlServer;

use crate::common::{databases, registry, settings, tenant, Fixture, TestResult};
use crate::{databases_with_items, text, My};

/// Rows an `UPDATE` that changes nothing reports, plus the session settings diesel relies on.
async fn session_facts(conn: &mut My) -> (usize, String, String) {
    let matched = diesel::sql_query("UPDATE item SET owner = ? WHERE id = 1")
        .bind::<Text, _>("tp_driver")
        .execute(conn)
        .await
        .expect("update to the same value");
    let zone = text(conn, "SELECT @@session.time_zone AS value").await;
    let charset = text(conn, "SELECT @@session.character_set_client AS value").await;
    (matched, zone, charset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_report_matched_rows_and_session_settings_like_diesel_async(
) -> TestResult {
    let Some(t) = Fixture::<MySqlServer>::start("tp_driver", 4).await? else {
        return Ok(());
    };
    let dbs = databases_with_items(&t.server, "tp_driver", &["d"]).await?;
    let db = dbs.name("d");

    let mut plain = AsyncMysqlConnection::establish(&t.url(&db))
        .await
        .expect("diesel-async's own connection");
    let expected = session_facts(&mut plain).await;
    drop(plain);
    assert_eq!(
        expected.0, 1,
        "diesel-async counts matched rows (CLIENT_FOUND_ROWS)"
    );

    let registry = registry::<My>(settings(2, 1), databases(&t, &[("driver", &db)]));
    let mut pooled = registry.get(&tenant("driver")).await.expect("checkout");
    let got = session_facts(&mut pooled).await;
    assert_eq!(
        got, expected,
        "(matched rows, time zone, client charset) differ from diesel-async's own connection"
    );
    Ok(())
}
