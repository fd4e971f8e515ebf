//! SQLite through diesel-async's `SyncConnectionWrapper`, one file per tenant.
//!
//! diesel-async runs each SQLite call on a blocking thread. Its default spawner, when the
//! calling future is dropped mid-query, waits for the call with `block_in_place`, which panics
//! on a current-thread runtime, and every actix worker is one. [`BlockingSpawner`] runs calls
//! on the I/O runtime's blocking pool and, when dropped early, waits for the call with a plain
//! condition variable instead: no panic on any runtime, and the connection is never shared
//! with a still-running call when it goes back to its pool.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use futures_util::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{on_io, Backend, ConnectContext, ConnectFailure};
use crate::backend::ConnectionPermit;
use crate::{BackendKind, DatabaseUrl, SchemaName};

/// The async SQLite connection the registry pools: diesel's `SqliteConnection` behind
/// diesel-async's wrapper, with a spawner that is safe on actix's current-thread workers.
///
/// ```no_run
/// use diesel_async::RunQueryDsl;
/// # async fn f(registry: tenantpool_core::Registry<tenantpool_core::SqliteConnection>) -> Result<(), Box<dyn std::error::Error>> {
/// let mut conn = registry.get(&"acme".parse()?).await?;
/// diesel::sql_query("CREATE TABLE IF NOT EXISTS t (x INTEGER)").execute(&mut conn).await?;
/// # Ok(()) }
/// ```
pub type SqliteConnection = SyncConnectionWrapper<diesel::SqliteConnection, BlockingSpawner>;

/// Runs SQLite calls on a tokio blocking pool; a dropped call is waited for without
/// `block_in_place`.
///
/// ```
/// use diesel_async::sync_connection_wrapper::SpawnBlocking;
/// let rt = tokio::runtime::Runtime::new()?;
/// let mut spawner = tenantpool_core::backend::BlockingSpawner::new(rt.handle().clone());
/// let answer = rt.block_on(spawner.spawn_blocking(|| 6 * 7)).map_err(|e| e.to_string())?;
/// assert_eq!(answer, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingSpawner {
    handle: Option<Handle>,
}

impl BlockingSpawner {
    /// A spawner on this runtime's blocking pool.
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let _spawner = tenantpool_core::backend::BlockingSpawner::new(rt.handle().clone());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(handle: Handle) -> Self {
        Self {
            handle: Some(handle),
        }
    }
}

#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    cv: Condvar,
}

/// Marks its call finished when dropped: after the call returns, when it panics, or when the
/// runtime drops it without running it.
struct FinishOnDrop(Arc<Finished>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let mut done = crate::lock::lock(&self.0.done);
        *done = true;
        self.0.cv.notify_all();
    }
}

enum Call<R> {
    Spawned(JoinHandle<R>),
    Thread(BoxFuture<'static, Result<R, String>>),
}

struct WaitOnDrop<R> {
    call: Call<R>,
    finished: Arc<Finished>,
    completed: bool,
}

impl<R: Send + 'static> Future for WaitOnDrop<R> {
    type Output = Result<R, Box<dyn StdError + Send + Sync + 'static>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let out = match &mut this.call {
            Call::Spawned(handle) => match Pin::new(handle).poll(cx) {
                Poll::Ready(r) => r.map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>),
                Poll::Pending => return Poll::Pending,
            },
            Call::Thread(fut) => match fut.as_mut().poll(cx) {
                Poll::Ready(r) => r.map_err(Box::<dyn StdError + Send + Sync>::from),
                Poll::Pending => return Poll::Pending,
            },
        };
        this.completed = true;
        Poll::Ready(out)
    }
}

impl<R> Drop for WaitOnDrop<R> {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        // The call still borrows the connection (an Arc clone of it): wait until it lets go,
        // so that the connection is exclusively ours again before anyone reuses it.
        let mut done = crate::lock::lock(&self.finished.done);
        while !*done {
            done = self
                .finished
                .cv
                .wait(done)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl SpawnBlocking for BlockingSpawner {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn StdError + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let finished = Arc::new(Finished::default());
        let marker = FinishOnDrop(finished.clone());
        let run = move || {
            let _marker = marker;
            task()
        };
        let call = match &self.handle {
            Some(handle) => Call::Spawned(handle.spawn_blocking(run)),
            None => Call::Thread(on_thread(run)),
        };
        Box::pin(WaitOnDrop {
            call,
            finished,
            completed: false,
        })
    }

    fn get_runtime() -> Self {
        Self {
            handle: Handle::try_current()
                .ok()
                .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread),
        }
    }
}

/// Runs `run` on a thread of its own and returns a future of its result; used only when no
/// multi-thread runtime is at hand (a connection established outside the registry).
fn on_thread<R, F>(run: F) -> BoxFuture<'static, Result<R, String>>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("tenantpool-sqlite".into())
        .spawn(move || {
            let _ = tx.send(run());
        });
    match spawned {
        Ok(_) => Box::pin(async move { rx.await.map_err(|e| e.to_string()) }),
        Err(e) => {
            let message = e.to_string();
            Box::pin(async move { Err(message) })
        }
    }
}

impl Backend for SqliteConnection {
    const KIND: BackendKind = BackendKind::Sqlite;

    async fn connect(
        url: DatabaseUrl,
        ctx: ConnectContext,
    ) -> Result<(Self, Option<ConnectionPermit>), ConnectFailure> {
        let ConnectContext {
            io,
            permit,
            timeout,
            create_missing,
            ..
        } = ctx;
        let handle = io.handle().clone();
        on_io(&io, timeout, async move {
            let path = url.database().unwrap_or_default().to_string();
            let blocking = handle.clone();
            let conn = blocking
                .spawn_blocking(move || open(&path, create_missing))
                .await
                .map_err(|e| {
                    ConnectFailure::Unavailable(format!("sqlite open task failed: {e}"))
                })??;
            Ok((
                SyncConnectionWrapper::with_runtime(conn, BlockingSpawner::new(handle)),
                Some(permit),
            ))
        })
        .await
    }

    async fn validate(&mut self) -> diesel::QueryResult<()> {
        self.spawn_blocking(|c| c.batch_execute("SELECT 1")).await
    }

    async fn switch_schema(&mut self, _schema: &SchemaName) -> diesel::QueryResult<()> {
        Err(diesel::result::Error::QueryBuilderError(
            "SQLite has no schemas: use one database file per tenant".into(),
        ))
    }

    async fn ensure_schema(
        &mut self,
        _schema: &SchemaName,
        _create: bool,
    ) -> diesel::QueryResult<bool> {
        Ok(false)
    }
}

fn open(path: &str, create_missing: bool) -> Result<diesel::SqliteConnection, ConnectFailure> {
    let file = std::path::Path::new(path);
    if create_missing {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                ConnectFailure::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
    } else if !file.exists() {
        return Err(ConnectFailure::DatabaseMissing);
    }
    let encoded: String = path
        .chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '?' => "%3f".to_string(),
            '#' => "%23".to_string(),
            c => c.to_string(),
        })
        .collect();
    let mode = if create_missing { "rwc" } else { "rw" };
    let mut conn = diesel::SqliteConnection::establish(&format!("file:{encoded}?mode={mode}"))
        .map_err(|e| ConnectFailure::Unavailable(e.to_string()))?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| ConnectFailure::Unavailable(e.to_string()))?;
    Ok(conn)
}
