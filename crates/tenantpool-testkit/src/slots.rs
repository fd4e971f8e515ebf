//! The connection budget of one test binary on a shared server. `cargo test` runs the tests
//! of a binary in parallel threads, and their connections add up on the one server: past its
//! `max_connections`, tests fail with "too many clients" for reasons unrelated to the code
//! under test. Each test reserves what it will hold before it starts.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Server connections the tests of one process may hold at once, together. PostgreSQL here
/// allows 100 (MariaDB 151); 80 leaves room for admin sessions and other clients.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // More than there are: reserves them all, the test runs alone.
/// let _all = tenantpool_testkit::reserve(tenantpool_testkit::SLOTS + 1).await;
/// # }
/// ```
pub const SLOTS: u32 = 80;

static SERVER_SLOTS: Semaphore = Semaphore::const_new(SLOTS as usize);

/// Waits until `n` of the process's [`SLOTS`] are free and reserves them for as long as the
/// permit lives. Count the test's pool budget plus its admin and sampler connections. `n`
/// above [`SLOTS`] reserves them all.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A registry with a budget of 4, an admin connection and a sampler.
/// let _slots = tenantpool_testkit::reserve(4 + 2).await;
/// # }
/// ```
pub async fn reserve(n: u32) -> SemaphorePermit<'static> {
    match SERVER_SLOTS.acquire_many(n.min(SLOTS)).await {
        Ok(permit) => permit,
        // The semaphore is a static that nothing closes.
        Err(_) => unreachable!("the slot semaphore is never closed"),
    }
}
