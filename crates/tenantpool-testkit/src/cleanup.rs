//! Undoing what a test created on a server, whether the test ends normally or panics.
//!
//! Dropping needs a round trip to the server, and `Drop` cannot `.await`. The explicit path
//! is `remove().await` on the owning handle; `Drop` falls back to a thread of its own with its
//! own runtime and a new connection (the test's runtime may be a current-thread runtime that
//! is blocked in this very `drop`, and its connections' drivers with it), and waits for it
//! a bounded time.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::Error;

/// How long a `Drop` waits for its cleanup thread before leaving it behind.
const DROP_WAIT: Duration = Duration::from_secs(30);

type Action =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send + Sync>;

/// One cleanup action, run once: by [`Cleanup::run`] or, failing that, on drop.
pub(crate) struct Cleanup {
    what: String,
    action: Option<Action>,
}

impl Cleanup {
    /// `action` must open its own connection: it may run on a runtime of its own.
    pub(crate) fn new<F, Fut>(what: String, action: F) -> Self
    where
        F: FnOnce() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        Self {
            what,
            action: Some(Box::new(move || Box::pin(action()))),
        }
    }

    /// Runs the action now, on the caller's runtime.
    pub(crate) async fn run(mut self) -> Result<(), Error> {
        match self.action.take() {
            Some(action) => action().await,
            None => Ok(()),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(action) = self.action.take() else {
            return;
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("testkit-cleanup".into())
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Background(format!("no runtime for the cleanup: {e}")))
                    .and_then(|rt| rt.block_on(action()));
                let _ = done_tx.send(outcome);
            });
        let outcome = match spawned {
            Ok(_) => done_rx
                .recv_timeout(DROP_WAIT)
                .unwrap_or_else(|_| Err(Error::Background(format!("no answer in {DROP_WAIT:?}")))),
            Err(e) => Err(Error::Background(format!("no thread for the cleanup: {e}"))),
        };
        if let Err(e) = outcome {
            eprintln!("testkit: could not drop {}: {e:?}", self.what);
        }
    }
}
