//! Exponential backoff: how long to wait after the n-th consecutive failure.
//!
//! Used for a server that refuses connects (creators fail fast meanwhile) and for a tenant
//! whose start failed (its error is replayed meanwhile).

use std::time::Duration;

/// `initial * 2^failures`, capped at `max`.
pub(crate) fn backoff_for(failures: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff_for(0, i, m), Duration::from_millis(100));
        assert_eq!(backoff_for(1, i, m), Duration::from_millis(200));
        assert_eq!(backoff_for(3, i, m), Duration::from_millis(800));
        assert_eq!(backoff_for(4, i, m), m);
        assert_eq!(backoff_for(u32::MAX, i, m), m);
    }
}
