//! The per-tenant `job` table on each backend: create, enqueue, claim, finish.
//!
//! A claim runs inside the job's transaction: `FOR UPDATE SKIP LOCKED` on PostgreSQL and
//! MySQL/MariaDB, so that workers on one tenant take different jobs and a job whose worker dies
//! is unlocked by the rollback. SQLite has no row locks: a tenant's file takes one writer at a
//! time, and the worker runs one job per tenant at a time there.

use std::future::Future;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use tenantpool::{Backend, SqliteConnection};

/// A claimed job.
#[derive(Debug, Clone, QueryableByName)]
pub struct Job {
    /// Its id in the tenant's `job` table.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// What to do: `count_notes`, or `fail` / `panic` to see the worker survive them.
    #[diesel(sql_type = Text)]
    pub kind: String,
}

/// A row of the `job` table.
///
/// ```
/// let row = tenantpool_jobs::JobRow { id: 1, kind: "count_notes".into(), status: "done".into(), result: Some("3".into()) };
/// assert_eq!(row.status, "done");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct JobRow {
    /// Its id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// Its kind.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// `pending`, `done` or `failed`.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// The result of a done job, or why it failed.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub result: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What the worker needs of a backend: its `job` table's SQL.
///
/// ```no_run
/// # async fn f(mut conn: diesel_async::AsyncPgConnection) -> diesel::QueryResult<()> {
/// use tenantpool_jobs::JobStore;
/// diesel_async::AsyncPgConnection::create_table(&mut conn).await?;
/// diesel_async::AsyncPgConnection::enqueue(&mut conn, "count_notes").await?;
/// # Ok(()) }
/// ```
pub trait JobStore: Backend {
    /// `CREATE TABLE IF NOT EXISTS job (...)`.
    const CREATE: &'static str;
    /// The lowest pending job, locked for this transaction (skipping locked ones).
    const CLAIM: &'static str;
    /// Bind placeholder syntax: `$1` or `?`.
    const PLACEHOLDER: &'static str;

    /// Creates the `job` table when it does not exist.
    fn create_table(conn: &mut Self) -> impl Future<Output = diesel::QueryResult<()>> + Send {
        conn.batch_execute(Self::CREATE)
    }

    /// Adds a pending job of `kind`.
    fn enqueue(
        conn: &mut Self,
        kind: &str,
    ) -> impl Future<Output = diesel::QueryResult<usize>> + Send;

    /// Claims the lowest pending job nobody holds; call it inside a transaction.
    fn claim(conn: &mut Self) -> impl Future<Output = diesel::QueryResult<Option<Job>>> + Send;

    /// Ends job `id` with `status` (`done` or `failed`) and `result`.
    fn finish(
        conn: &mut Self,
        id: i64,
        status: &str,
        result: &str,
    ) -> impl Future<Output = diesel::QueryResult<usize>> + Send;

    /// How many notes the tenant has (the notes example's table).
    fn count_notes(conn: &mut Self) -> impl Future<Output = diesel::QueryResult<i64>> + Send;

    /// Every job, by id.
    fn list(conn: &mut Self) -> impl Future<Output = diesel::QueryResult<Vec<JobRow>>> + Send;

    /// How many jobs have `status`.
    fn count_status(
        conn: &mut Self,
        status: &str,
    ) -> impl Future<Output = diesel::QueryResult<i64>> + Send;
}

macro_rules! job_store_sql {
    ($conn:ty) => {
        async fn enqueue(conn: &mut $conn, kind: &str) -> diesel::QueryResult<usize> {
            diesel::sql_query(format!(
                "INSERT INTO job (kind, status) VALUES ({}, 'pending')",
                Self::PLACEHOLDER.replace('N', "1")
            ))
            .bind::<Text, _>(kind)
            .execute(conn)
            .await
        }

        async fn claim(conn: &mut $conn) -> diesel::QueryResult<Option<Job>> {
            diesel::sql_query(Self::CLAIM)
                .get_results::<Job>(conn)
                .await
                .map(|jobs| jobs.into_iter().next())
        }

        async fn finish(
            conn: &mut $conn,
            id: i64,
            status: &str,
            result: &str,
        ) -> diesel::QueryResult<usize> {
            let p = |n: &str| Self::PLACEHOLDER.replace('N', n);
            diesel::sql_query(format!(
                "UPDATE job SET status = {}, result = {} WHERE id = {}",
                p("1"),
                p("2"),
                p("3")
            ))
            .bind::<Text, _>(status)
            .bind::<Text, _>(result)
            .bind::<BigInt, _>(id)
            .execute(conn)
            .await
        }

        async fn count_notes(conn: &mut $conn) -> diesel::QueryResult<i64> {
            diesel::sql_query("SELECT COUNT(*) AS n FROM notes")
                .get_result::<Count>(conn)
                .await
                .map(|c| c.n)
        }

        async fn list(conn: &mut $conn) -> diesel::QueryResult<Vec<JobRow>> {
            diesel::sql_query("SELECT id, kind, status, result FROM job ORDER BY id")
                .get_results::<JobRow>(conn)
                .await
        }

        async fn count_status(conn: &mut $conn, status: &str) -> diesel::QueryResult<i64> {
            diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM job WHERE status = {}",
                Self::PLACEHOLDER.replace('N', "1")
            ))
            .bind::<Text, _>(status)
            .get_result::<Count>(conn)
            .await
            .map(|c| c.n)
        }
    };
}

impl JobStore for AsyncPgConnection {
    const CREATE: &'static str = "CREATE TABLE IF NOT EXISTS job (id BIGSERIAL PRIMARY KEY, \
        kind TEXT NOT NULL, status TEXT NOT NULL, result TEXT)";
    const CLAIM: &'static str = "SELECT id, kind FROM job WHERE status = 'pending' \
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    const PLACEHOLDER: &'static str = "$N";
    job_store_sql!(AsyncPgConnection);
}

impl JobStore for AsyncMysqlConnection {
    const CREATE: &'static str = "CREATE TABLE IF NOT EXISTS job (id BIGINT NOT NULL \
        AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, \
        result TEXT)";
    const CLAIM: &'static str = "SELECT id, kind FROM job WHERE status = 'pending' \
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    const PLACEHOLDER: &'static str = "?";
    job_store_sql!(AsyncMysqlConnection);
}

impl JobStore for SqliteConnection {
    const CREATE: &'static str = "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY \
        AUTOINCREMENT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, result TEXT)";
    const CLAIM: &'static str =
        "SELECT id, kind FROM job WHERE status = 'pending' ORDER BY id LIMIT 1";
    const PLACEHOLDER: &'static str = "?";
    job_store_sql!(SqliteConnection);
}
