//! Held-too-long warnings (`pool.leak_warning_after`): one `WARN` per checkout held past the
//! threshold, however many maintenance ticks it spans, with the tenant, the masked target and
//! how long it was held; the `held_too_long` counter agrees; a connection returned in time and
//! a threshold of `0s` never warn.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use tenantpool::{Backend, Registry, Settings, SqliteConnection};
use tenantpool_testkit::{Fixture, PgServer, TestServer};

use crate::common::{tenant, wait_until, TestResult};
use crate::{held_lines_of as lines_of, registry};

/// The threshold of these tests.
const AFTER: Duration = Duration::from_millis(300);
/// The maintenance tick of these tests: a hold of a second spans ten of them.
const TICK: Duration = Duration::from_millis(100);
/// PostgreSQL's trust authentication accepts any password: this one must never be printed.
const PASSWORD: &str = "secretpw";

fn settings(leak_warning_after: Duration) -> Settings {
    let mut s = Settings::default();
    s.budget.max_connections = 1;
    // One connection: the second checkout gets the same one.
    s.pool.max_size = 1;
    s.pool.checkout_timeout = Duration::from_secs(10);
    s.pool.leak_warning_after = leak_warning_after;
    s.cache.maintenance_interval = TICK;
    s.runtime.io_threads = 1;
    s
}

fn held_too_long<C: Backend>(r: &Registry<C>) -> u64 {
    r.stats().counters.held_too_long
}

/// Waits (bounded) until the counter reaches `n`, then keeps the connection out for five
/// more ticks, so that a second warning for the same checkout would have had time to come.
async fn reported_while_held<C: Backend>(r: &Registry<C>, n: u64) {
    let (seen, waited) = wait_until(
        Duration::from_secs(10),
        || async { held_too_long(r) },
        |c| *c >= n,
    )
    .await;
    assert_eq!(seen, n, "held_too_long after {waited:?}");
    tokio::time::sleep(TICK * 5).await;
    assert_eq!(held_too_long(r), n, "a checkout was reported twice");
}

/// Two checkouts of the one connection, each held for many ticks past the threshold: two
/// warnings, one each. Returns them.
async fn each_checkout_held_too_long_is_reported_once<C: Backend>(
    r: &Registry<C>,
    key: &str,
) -> Vec<String> {
    let conn = r.get(&tenant(key)).await.expect("first checkout");
    reported_while_held(r, 1).await;
    assert_eq!(lines_of(key).len(), 1, "{:#?}", lines_of(key));
    drop(conn);

    let conn = r.get(&tenant(key)).await.expect("second checkout");
    reported_while_held(r, 2).await;
    drop(conn);
    assert_eq!(
        r.stats().counters.connections_created,
        1,
        "not the same connection"
    );

    let lines = lines_of(key);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for line in &lines {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("held="), "no `held` field: {line}");
        assert!(line.contains("target_db="), "no `target_db` field: {line}");
    }
    lines
}

/// Checkouts returned well within the threshold, then many ticks: no warning.
async fn connections_returned_in_time_are_never_reported<C: Backend>(r: &Registry<C>, key: &str) {
    for _ in 0..5 {
        let conn = r.get(&tenant(key)).await.expect("checkout");
        tokio::time::sleep(AFTER / 6).await;
        drop(conn);
    }
    tokio::time::sleep(AFTER + TICK * 5).await;
    assert_eq!(held_too_long(r), 0);
    assert_eq!(lines_of(key), Vec::<String>::new());
}

/// With `leak_warning_after = "0s"`, a connection held for many ticks: no warning.
async fn a_zero_threshold_never_reports<C: Backend>(r: &Registry<C>, key: &str) {
    let conn = r.get(&tenant(key)).await.expect("checkout");
    tokio::time::sleep(AFTER + TICK * 5).await;
    drop(conn);
    assert_eq!(held_too_long(r), 0);
    assert_eq!(lines_of(key), Vec::<String>::new());
}

/// A PostgreSQL URL with [`PASSWORD`] in it, for a database of the fixture.
fn pg_url(t: &Fixture<PgServer>, database: &str) -> String {
    t.url(database)
        .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_connection_held_too_long_is_reported_once_per_checkout_without_its_password(
) -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_held_once", 2).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_held_once").await?;
    let url = pg_url(&t, db.name());
    assert!(url.contains(PASSWORD), "{url}");
    let key = "held-pg-once";
    let r = registry::<AsyncPgConnection>(settings(AFTER), key, &url);

    let lines = each_checkout_held_too_long_is_reported_once(&r, key).await;
    // The stats as the admin routes serve them.
    let json = serde_json::to_value(r.stats()).expect("stats as JSON");
    assert_eq!(json["counters"]["held_too_long"], 2, "{json}");
    for line in &lines {
        assert!(!line.contains(PASSWORD), "a password was printed: {line}");
        assert!(
            line.contains("target_db=postgres://postgres:***@"),
            "not the masked URL: {line}"
        );
    }
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_connection_returned_in_time_is_never_reported() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_held_early", 2).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_held_early").await?;
    let key = "held-pg-early";
    let r = registry::<AsyncPgConnection>(settings(AFTER), key, &pg_url(&t, db.name()));
    connections_returned_in_time_are_never_reported(&r, key).await;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_zero_threshold_turns_the_warning_off() -> TestResult {
    let Some(t) = Fixture::<PgServer>::start("tp_held_off", 2).await? else {
        return Ok(());
    };
    let db = t.server.throwaway_database("tp_held_off").await?;
    let key = "held-pg-off";
    let r = registry::<AsyncPgConnection>(settings(Duration::ZERO), key, &pg_url(&t, db.name()));
    a_zero_threshold_never_reports(&r, key).await;
    r.shutdown(Duration::from_secs(5)).await;
    t.assert_no_connections(Duration::from_secs(5)).await?;
    Ok(())
}

/// A fresh SQLite file for one test: `sqlite://<tmp>/tenantpool-tests/observability/<name>.db`.
fn sqlite_url(name: &str) -> String {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join("observability");
    std::fs::create_dir_all(&dir).expect("create the test's data directory");
    let file = dir.join(format!("{name}.db"));
    std::fs::File::create(&file).expect("an empty database file");
    format!("sqlite://{}", file.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_connection_held_too_long_is_reported_once_per_checkout() {
    let key = "held-lite-once";
    let r = registry::<SqliteConnection>(settings(AFTER), key, &sqlite_url(key));
    let lines = each_checkout_held_too_long_is_reported_once(&r, key).await;
    for line in &lines {
        assert!(line.contains("target_db=sqlite://"), "{line}");
    }
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_connection_returned_in_time_is_never_reported() {
    let key = "held-lite-early";
    let r = registry::<SqliteConnection>(settings(AFTER), key, &sqlite_url(key));
    connections_returned_in_time_are_never_reported(&r, key).await;
    r.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_zero_threshold_turns_the_warning_off() {
    let key = "held-lite-off";
    let r = registry::<SqliteConnection>(settings(Duration::ZERO), key, &sqlite_url(key));
    a_zero_threshold_never_reports(&r, key).await;
    r.shutdown(Duration::from_secs(5)).await;
}
