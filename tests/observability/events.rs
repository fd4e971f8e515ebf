//! The core's lifecycle events, as an operator's log shows them: a tenant's start and
//! eviction, its pool's creation and closing, and a budget steal, each naming the tenant and
//! the server, and none printing the password of the URL they came from.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tenantpool::Settings;
use tenantpool_testkit::{Fixture, PgServer, TestServer};

use crate::common::{tenant, wait_until, TestResult};
use crate::{lines_of, logs, registry, registry_of};

/// PostgreSQL's trust authentication accepts any password: this one must never be printed.
const PASSWORD: &str = "eventspw";

/// A URL of the fixture's server with [`PASSWORD`] in it.
fn url_with_password(t: &Fixture<PgServer>, database: &str) -> String {
    t.url(database)
        .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1)
}

/// The one captured line of tenant `key` whose message is `message`.
fn the_line(key: &str, message: &str) -> String {
    let lines: Vec<String> = lines_of(key)
        .into_iter()
        .filter(|line| line.contains(message))
        .collect();
    assert_eq!(lines.len(), 1, "one {message:?} line of {key}: {lines:#?}");
    lines.into_iter().next().unwrap_or_default()
}

/// `line` names the server (without credentials) and the masked target.
fn names_server_and_masked_target(line: &str) {
    assert!(line.contains("server=postgres://"), "no server: {line}");
    assert!(
        line.contains("target_db=postgres://postgres:***@"),
        "not the masked URL: {line}"
    );
    assert!(!line.contains(PASSWORD), "a password was printed: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_start_pool_and_eviction_name_the_tenant_and_the_server() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_events", 2).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_events").await?;
    let key = "events-life";
    let r =
        registry::<AsyncPgConnection>(Settings::default(), key, &url_with_password(&t, db.name()));
    drop(r.get(&tenant(key)).await.expect("a checkout"));
    r.evict(&tenant(key));
    r.run_maintenance();
    let (closed, waited) = wait_until(
        Duration::from_secs(5),
        || async {
            lines_of(key)
                .iter()
                .any(|line| line.contains("pool closed"))
        },
        |closed| *closed,
    )
    .await;
    assert!(
        closed,
        "no `pool closed` line after {waited:?}: {:#?}",
        lines_of(key)
    );

    names_server_and_masked_target(&the_line(key, "tenant started"));
    names_server_and_masked_target(&the_line(key, "pool created"));
    let evicted = the_line(key, "tenant evicted");
    names_server_and_masked_target(&evicted);
    assert!(evicted.contains("cause=Explicit"), "{evicted}");
    names_server_and_masked_target(&the_line(key, "pool closed"));
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_steal_names_the_server_and_the_tenant_it_took_from() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_events_steal", 2).await? else {
        return Ok(());
    };
    let first = t.server.throwaway_database("tp_events_a").await?;
    let second = t.server.throwaway_database("tp_events_b").await?;
    let (victim, thief) = ("events-victim", "events-thief");
    let mut settings = Settings::default();
    settings.budget.max_connections = 1;
    let r = registry_of::<AsyncPgConnection>(
        settings,
        &[
            (victim, &url_with_password(&t, first.name())),
            (thief, &url_with_password(&t, second.name())),
        ],
    );
    // The victim's connection goes back idle; the thief's pool has none, so it takes the
    // budget's only permit by closing that idle connection.
    drop(r.get(&tenant(victim)).await.expect("a checkout"));
    drop(r.get(&tenant(thief)).await.expect("a checkout"));
    let steals = logs().lines_containing("budget steal");
    let ours: Vec<&String> = steals
        .iter()
        .filter(|line| line.contains(&format!("victim_tenant={victim}")))
        .collect();
    assert_eq!(ours.len(), 1, "{steals:#?}");
    assert!(ours[0].contains("server=postgres://"), "{}", ours[0]);
    assert!(
        ours[0].contains("victim=postgres://postgres:***@"),
        "{}",
        ours[0]
    );
    assert!(
        !ours[0].contains(PASSWORD),
        "a password was printed: {}",
        ours[0]
    );
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}
