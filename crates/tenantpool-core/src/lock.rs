//! Locking a `std::sync::Mutex` whose data stays consistent even if a holder panicked.
//!
//! Every mutex in the core guards data that is valid between any two statements (a map of
//! `Weak`s, a queue of waiters, a health record), so a panic while it was held leaves nothing
//! half-written: the poison flag carries no information here, and ignoring it keeps one
//! panicking handler from turning every later checkout into a panic too.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning (see the module docs).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _held = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
