//! The one rule for a test server that cannot be reached: under CI it is a failure, anywhere
//! else a loud skip. Every server handle applies it; a test that needs something else (a
//! private cluster, a tool on `PATH`) applies it through [`unavailable`].

use std::fmt::Display;

/// Whether the tests run under CI: any non-empty `CI` environment variable (`CI=true`,
/// `CI=1`, `CI=yes` ...).
///
/// ```
/// // `CI` is set by every common CI service; locally it usually is not.
/// let strict = tenantpool_testkit::ci();
/// assert_eq!(strict, std::env::var("CI").is_ok_and(|v| !v.is_empty()));
/// ```
pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Reports that `what` (a server, a tool) cannot be used because of `error`: panics under
/// [`ci`], so that no database test is silently skipped there; elsewhere prints a notice to
/// stderr that is hard to miss, and the caller returns early.
///
/// # Panics
///
/// Under CI, always, with a message naming `what` and `error`.
///
/// ```
/// fn private_cluster() -> Result<(), String> {
///     Err("initdb not found".into())
/// }
///
/// # if !tenantpool_testkit::ci() {
/// if let Err(e) = private_cluster() {
///     tenantpool_testkit::unavailable("a private PostgreSQL cluster", &e);
///     return; // the test ends here, skipped
/// }
/// # }
/// ```
pub fn unavailable(what: &str, error: &dyn Display) {
    let message = format!("{what} is unreachable or unusable: {error}");
    if ci() {
        panic!("{message} (CI is set: database tests must not be skipped)");
    }
    let bar = "!".repeat(78);
    eprintln!("\n{bar}\n!!! SKIPPED: {message}\n!!! Start the server (see the README) or set CI=1 to make this a failure.\n{bar}\n");
}
