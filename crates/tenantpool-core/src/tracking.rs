//! Statements in flight: a connection whose statement future was dropped mid-way must not be
//! reused.
//!
//! diesel's transaction manager knows about open transactions, but not about a single
//! statement abandoned halfway: a MySQL connection would then hand the next user the rest of
//! the previous result, and a PostgreSQL connection would queue the next user's query behind a
//! statement still running on the server. The registry installs a diesel [`Instrumentation`]
//! on every connection it opens; it counts statements started and not finished, and notes a
//! statement that failed because the connection was lost. The guard checks both at return.
//! Events are forwarded to diesel's default instrumentation, so application-wide
//! instrumentation keeps working.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// Shared between a connection's instrumentation and its pooled wrapper.
#[derive(Debug, Default)]
pub(crate) struct StatementState {
    in_flight: AtomicUsize,
    lost: AtomicBool,
}

impl StatementState {
    /// A statement started and did not finish: its future was dropped.
    pub(crate) fn abandoned(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) != 0
    }

    /// A statement failed because the connection to the server was lost.
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

/// The instrumentation installed on each connection.
pub(crate) struct StatementTracker {
    state: Arc<StatementState>,
    inner: Option<Box<dyn Instrumentation>>,
}

impl StatementTracker {
    pub(crate) fn new(state: Arc<StatementState>) -> Self {
        Self {
            state,
            inner: diesel::connection::get_default_instrumentation(),
        }
    }
}

impl Instrumentation for StatementTracker {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match &event {
            InstrumentationEvent::StartQuery { .. } => {
                self.state.in_flight.fetch_add(1, Ordering::AcqRel);
            }
            InstrumentationEvent::FinishQuery { error, .. } => {
                // Saturating: a backend that reports a finish without a start must not make
                // every later statement look abandoned.
                let _ =
                    self.state
                        .in_flight
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                if error.is_some_and(crate::is_connection_error) {
                    self.state.lost.store(true, Ordering::Release);
                }
            }
            _ => {}
        }
        if let Some(inner) = &mut self.inner {
            inner.on_connection_event(event);
        }
    }
}
