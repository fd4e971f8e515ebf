//! The check of a server's capacity against the service's budget for it: on the first
//! connection a process opens to a server, the registry reads how many connections the server
//! accepts (PostgreSQL: `max_connections` less its reserved slots; MySQL: `max_connections`)
//! and warns when every replica at its share (`budget.replicas` × the per-process cap) could
//! open more.
//!
//! ```text
//! Manager::open ── first connection on the server ──▶ Backend::server_capacity (one query)
//!                                                     CapacityCheck::record ──▶ WARN when
//!                                                       replicas × share > what it accepts
//! ```
//!
//! Once per server and process, on a connection just opened and not yet handed out, so no
//! checkout pays for it later. A server that cannot say (SQLite, a role not allowed to read
//! the settings) is not checked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ServerKey;

/// One server's capacity check.
#[derive(Debug)]
pub(crate) struct CapacityCheck {
    due: AtomicBool,
    /// What the server accepts, plus one; 0 while unknown.
    accepts: AtomicU64,
    /// The processes that share the server (`budget.replicas`).
    replicas: usize,
    /// One process's cap.
    share: usize,
}

impl CapacityCheck {
    pub(crate) fn new(replicas: usize, share: usize) -> Self {
        Self {
            due: AtomicBool::new(true),
            accepts: AtomicU64::new(0),
            replicas,
            share,
        }
    }

    /// Whether the check is still to be made; true once, for the caller that makes it.
    pub(crate) fn take(&self) -> bool {
        self.due.load(Ordering::Relaxed) && self.due.swap(false, Ordering::AcqRel)
    }

    /// The connections the whole service may open on the server: replicas × share.
    pub(crate) fn service_total(&self) -> usize {
        self.replicas.saturating_mul(self.share)
    }

    /// What the server said it accepts, once read.
    pub(crate) fn accepts(&self) -> Option<u64> {
        self.accepts.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Records that `server` accepts `accepts` connections from clients like this one, and
    /// warns when the service's total exceeds it.
    pub(crate) fn record(&self, server: &ServerKey, accepts: u64) {
        self.accepts
            .store(accepts.saturating_add(1), Ordering::Relaxed);
        let total = self.service_total();
        if u64::try_from(total).unwrap_or(u64::MAX) > accepts {
            tracing::warn!(
                server = %server,
                replicas = self.replicas,
                per_process = self.share,
                service_total = total,
                server_accepts = accepts,
                "the connection budget exceeds what the server accepts: budget.replicas \
                 processes at budget.max_connections / budget.replicas each can be refused \
                 (too many connections); lower budget.max_connections (or its per-server \
                 cap), or raise the server's max_connections"
            );
        } else {
            tracing::debug!(
                server = %server,
                service_total = total,
                server_accepts = accepts,
                "the connection budget fits the server"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_is_taken_once_and_records_what_the_server_accepts() {
        let check = CapacityCheck::new(3, 40);
        assert_eq!(check.service_total(), 120);
        assert!(check.take());
        assert!(!check.take());
        assert_eq!(check.accepts(), None);
        let server = ServerKey(std::sync::Arc::from("postgres://db:5432"));
        check.record(&server, 97);
        assert_eq!(check.accepts(), Some(97));
        check.record(&server, 0);
        assert_eq!(check.accepts(), Some(0));
    }
}
