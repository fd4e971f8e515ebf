//! Names no other test uses: tests of one binary run in parallel threads, and several test
//! processes (other checkouts, other suites) share one server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// `<prefix>_<pid>_<nonce>_<n>`: unique within this process by a counter, and across
/// processes by the process id and a nonce taken once per process from the clock (process
/// ids repeat across containers sharing a server). Lowercase ASCII, digits and `_` only when
/// `prefix` is, so it is a valid unquoted identifier for PostgreSQL and MySQL (keep `prefix`
/// under ~40 bytes: identifiers stop at 63).
///
/// ```
/// let a = tenantpool_testkit::unique("tp_orders");
/// let b = tenantpool_testkit::unique("tp_orders");
/// assert_ne!(a, b);
/// assert!(a.starts_with(&format!("tp_orders_{}_", std::process::id())));
/// ```
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    static NONCE: OnceLock<u32> = OnceLock::new();
    let nonce = NONCE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() % 0x1000)
            .unwrap_or(0)
    });
    format!(
        "{prefix}_{}_{nonce:03x}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
