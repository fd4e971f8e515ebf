//! [`ErrorBody`]: the JSON shape of every error response, in every adapter.

use serde::{Deserialize, Serialize};

/// The JSON body of every error response: `{"error": ..., "tenant": ...}` (`tenant` is
/// `null` when no tenant was resolved).
///
/// ```
/// use tenantpool_resolve::ErrorBody;
/// let body: ErrorBody = serde_json::from_str(r#"{"error": "unknown tenant", "tenant": "x"}"#)?;
/// assert_eq!(body.tenant.as_deref(), Some("x"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
    /// The tenant the request was for, when one was resolved.
    pub tenant: Option<String>,
}
