//! The kit against the real servers: what it counts is what a test opened, what it creates is
//! gone afterwards, its assertion fails with a useful message, and the CI rule is one rule.
//! Each test runs on PostgreSQL and on MySQL/MariaDB.
#![cfg(all(feature = "postgres", feature = "mysql"))]

use std::time::Duration;

use tenantpool_testkit::{reserve, wait_until, Count, Error, MySqlServer, PgServer, TestServer};

/// A plain session on a URL from a server handle, opened without the kit.
enum Session {
    Pg(tokio_postgres::Client),
    My(mysql_async::Conn),
}

impl Session {
    async fn open(url: &str) -> Self {
        if url.starts_with("postgres") {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            tokio::spawn(connection);
            Self::Pg(client)
        } else {
            // Over TCP only: by default mysql_async moves a loopback connection to the Unix
            // socket, and the server lists both sessions for a moment.
            let url = format!("{url}?prefer_socket=false");
            let opts = mysql_async::Opts::from_url(&url).expect("url");
            Self::My(mysql_async::Conn::new(opts).await.expect("mysql session"))
        }
    }

    async fn exec(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Self::Pg(client) => client.batch_execute(sql).await.map_err(|e| e.to_string()),
            Self::My(conn) => {
                use mysql_async::prelude::Queryable;
                conn.query_drop(sql).await.map_err(|e| e.to_string())
            }
        }
    }

    async fn close(self) {
        match self {
            Self::Pg(client) => drop(client),
            Self::My(conn) => {
                let _ = conn.disconnect().await;
            }
        }
    }
}

/// Runs `$test::<S>()` on one server, each in a `#[tokio::test]` of its own, in `mod $module`.
macro_rules! on {
    ($module:ident, $server:ty: $($test:ident),+) => {
        mod $module {
            use tenantpool_testkit::TestServer as _;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() -> Result<(), tenantpool_testkit::Error> {
                    let Some(server) = <$server>::from_env().await else {
                        return Ok(());
                    };
                    super::$test(&server).await
                }
            )+
        }
    };
}

/// [`on!`] PostgreSQL and MySQL/MariaDB.
macro_rules! on_both {
    ($($test:ident),+ $(,)?) => {
        on!(postgres, tenantpool_testkit::PgServer: $($test),+);
        on!(mysql, tenantpool_testkit::MySqlServer: $($test),+);
    };
}

on_both!(
    a_tag_counts_exactly_the_sessions_opened_with_it,
    a_leaked_session_fails_the_assertion_with_how_many_remained_and_how_long_it_waited,
    throwaway_databases_are_gone_after_their_handles,
    the_sampler_remembers_the_most_sessions_seen_at_once,
    a_row_locked_in_another_transaction_cannot_be_locked_within_the_wait,
    a_running_statement_is_counted_while_it_runs,
);

async fn a_tag_counts_exactly_the_sessions_opened_with_it<S: TestServer>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(5).await;
    let db = server.throwaway_database("tk_count").await?;
    let (tag, other) = (server.tag("tk_count").await?, server.tag("tk_other").await?);
    let url = server.url(db.name(), &tag);
    let sessions = [Session::open(&url).await, Session::open(&url).await];
    let bystander = Session::open(&server.url(db.name(), &other)).await;

    assert_eq!(server.count(&tag).await?, 2);
    assert_eq!(server.count(&other).await?, 1);
    let with_total = server.count_with_total(&tag).await?;
    assert_eq!(with_total.count, 2);
    assert!(with_total.wider >= 3, "{with_total:?}");
    // A limit below the listed count makes it match the sessions against this process's
    // sockets: all three are held here.
    let held = server.count_held(&tag, 0).await?;
    assert_eq!((held.count, held.wider), (2, 2));
    assert_eq!(server.reading(&tag, Count::Tagged).await?.count, 2);

    for s in sessions {
        s.close().await;
    }
    let took = server
        .assert_no_connections(&tag, Duration::from_secs(5))
        .await?;
    assert!(took < Duration::from_secs(5));
    assert_eq!(
        server.count(&other).await?,
        1,
        "another tag's session went too"
    );
    bystander.close().await;
    Ok(())
}

async fn a_leaked_session_fails_the_assertion_with_how_many_remained_and_how_long_it_waited<
    S: TestServer,
>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(3).await;
    let db = server.throwaway_database("tk_leak").await?;
    let tag = server.tag("tk_leak").await?;
    let leaked = Session::open(&server.url(db.name(), &tag)).await;
    let within = Duration::from_millis(300);
    match server.assert_no_connections(&tag, within).await {
        Err(Error::Leaked {
            tag: named,
            remaining,
            waited,
        }) => {
            assert_eq!((named.as_str(), remaining), (tag.name(), 1));
            assert!(waited >= within, "gave up after {waited:?}");
            let message = server
                .assert_no_connections(&tag, Duration::ZERO)
                .await
                .expect_err("still leaked")
                .to_string();
            assert!(
                message.starts_with(&format!(
                    "1 connection(s) tagged `{tag}` still on the server after waiting"
                )),
                "{message}"
            );
        }
        other => panic!("the leak was not reported: {other:?}"),
    }
    leaked.close().await;
    Ok(())
}

async fn throwaway_databases_are_gone_after_their_handles<S: TestServer>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(3).await;
    // Removed explicitly.
    let db = server.throwaway_database("tk_gone").await?;
    let name = db.name().to_string();
    assert!(server.database_exists(&name).await?);
    db.remove().await?;
    assert!(!server.database_exists(&name).await?);

    // Dropped, with a session still in it.
    let db = server.throwaway_database("tk_gone").await?;
    let name = db.name().to_string();
    let tag = server.tag("tk_gone").await?;
    let session = Session::open(&server.url(&name, &tag)).await;
    drop(db);
    assert!(!server.database_exists(&name).await?);
    session.close().await;

    // A family takes along the databases created in it later.
    let family = server.throwaway_databases("tk_family", &["a"]).await?;
    let later = family.name("later");
    server.create_database(&later).await?;
    assert!(server.database_exists(&family.name("a")).await?);
    let first = family.name("a");
    drop(family);
    assert!(!server.database_exists(&first).await?);
    assert!(!server.database_exists(&later).await?);

    // A fresh database replaces one a crashed run left behind.
    let name = tenantpool_testkit::unique("tk_fresh");
    server.create_database(&name).await?;
    let fresh = server.fresh_database(&name).await?;
    assert_eq!(fresh.name(), name);
    drop(fresh);
    assert!(!server.database_exists(&name).await?);
    Ok(())
}

async fn the_sampler_remembers_the_most_sessions_seen_at_once<S: TestServer>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(5).await;
    let db = server.throwaway_database("tk_peak").await?;
    let tag = server.tag("tk_peak").await?;
    let sampler = server.sampler(&tag, Count::Tagged).await?;
    let url = server.url(db.name(), &tag);
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(Session::open(&url).await);
    }
    let (peak, _) = wait_until(
        Duration::from_secs(5),
        || async { sampler.peak() },
        |p| *p == 3,
    )
    .await;
    assert_eq!(peak, 3, "after {} samples", sampler.samples());
    for s in sessions {
        s.close().await;
    }
    server
        .assert_no_connections(&tag, Duration::from_secs(5))
        .await?;
    let seen = sampler.finish().await?;
    assert_eq!(seen.peak, 3);
    assert!(seen.samples > 0);
    assert!(seen.mean <= 3.0);
    Ok(())
}

async fn a_row_locked_in_another_transaction_cannot_be_locked_within_the_wait<S: TestServer>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(4).await;
    let db = server.throwaway_database("tk_lock").await?;
    server
        .run_sql_in(
            db.name(),
            "CREATE TABLE lockme (id INT PRIMARY KEY, v INT); INSERT INTO lockme VALUES (1, 0);",
        )
        .await?;
    let tag = server.tag("tk_lock").await?;
    let locking = "SELECT * FROM lockme WHERE id = 1 FOR UPDATE";
    let wait = Duration::from_secs(1);
    assert!(server.can_lock(db.name(), locking, wait).await?);

    let mut holder = Session::open(&server.url(db.name(), &tag)).await;
    holder.exec("BEGIN").await.expect("begin");
    holder.exec(locking).await.expect("lock");
    assert_eq!(server.count_in_transaction(&tag).await?, 1);
    assert!(!server.can_lock(db.name(), locking, wait).await?);
    holder.exec("ROLLBACK").await.expect("rollback");
    assert_eq!(server.count_in_transaction(&tag).await?, 0);
    assert!(server.can_lock(db.name(), locking, wait).await?);
    holder.close().await;

    // Not a lock timeout: an error, not `false`.
    assert!(server
        .can_lock(db.name(), "SELECT * FROM no_such_table FOR UPDATE", wait)
        .await
        .is_err());
    Ok(())
}

async fn a_running_statement_is_counted_while_it_runs<S: TestServer>(
    server: &S,
) -> Result<(), Error> {
    let _slots = reserve(3).await;
    let db = server.throwaway_database("tk_running").await?;
    let tag = server.tag("tk_running").await?;
    let sleep = if S::NAME == "PostgreSQL" {
        "SELECT pg_sleep(1)"
    } else {
        "SELECT SLEEP(1)"
    };
    let mut session = Session::open(&server.url(db.name(), &tag)).await;
    let sleeping = tokio::spawn(async move {
        session.exec(sleep).await.expect("sleep");
        session
    });
    let prefix = &sleep[..12];
    let (running, _) = wait_until(
        Duration::from_secs(5),
        || server.count_running(&tag, prefix),
        |n| matches!(n, Ok(1)),
    )
    .await;
    assert_eq!(running?, 1, "the sleep was not seen running");
    assert_eq!(server.count_running(&tag, "SELECT nothing").await?, 0);
    sleeping.await.expect("sleeper").close().await;
    assert_eq!(server.count_running(&tag, prefix).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_that_masks_the_password() {
    let port = tenantpool_testkit::refused_port().expect("a free port");
    let pg = PgServer::connect(&format!("postgres://postgres:hunter2@127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens");
    let my = MySqlServer::connect(&format!("mysql://root:hunter2@127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens");
    for err in [pg, my] {
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, Error::Connect { .. }), "{shown}");
        assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    let named = PgServer::connect("postgres://postgres@127.0.0.1:5432/somedb")
        .await
        .expect_err("a URL with a database");
    assert!(matches!(named, Error::Url { .. }), "{named:?}");
}

/// Run by `the_ci_rule_fails_under_any_non_empty_ci_and_skips_loudly_elsewhere` in a process
/// of its own, with `TESTKIT_CI_PROBE` set; does nothing otherwise.
#[test]
fn ci_rule_probe() {
    if std::env::var_os("TESTKIT_CI_PROBE").is_none() {
        return;
    }
    tenantpool_testkit::unavailable("the probe server", &"connection refused");
    println!("the probe went on after the notice");
}

#[test]
fn the_ci_rule_fails_under_any_non_empty_ci_and_skips_loudly_elsewhere() {
    let probe = |ci: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "--exact",
            "ci_rule_probe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESTKIT_CI_PROBE", "1");
        match ci {
            Some(value) => cmd.env("CI", value),
            None => cmd.env_remove("CI"),
        };
        let out = cmd.output().expect("run the probe");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    for ci in ["true", "1", "yes"] {
        let (passed, text) = probe(Some(ci));
        assert!(!passed, "CI={ci}: the probe passed:\n{text}");
        assert!(
            text.contains("the probe server is unreachable") && text.contains("CI is set"),
            "CI={ci}:\n{text}"
        );
    }
    for ci in [None, Some("")] {
        let (passed, text) = probe(ci);
        assert!(passed, "CI={ci:?}: the probe failed:\n{text}");
        assert!(text.contains("SKIPPED: the probe server"), "{text}");
        assert!(text.contains("the probe went on"), "{text}");
    }
}
