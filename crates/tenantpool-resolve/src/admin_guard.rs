//! The admin endpoint's configuration and its bearer-token guard, shared by the adapters.
//!
//! ```toml
//! [admin]
//! enabled = true
//! path = "/_tenantpool"
//! token = "a long random string"   # or NOTES_ADMIN__TOKEN in the environment
//! metrics = true                    # GET {path}/metrics, Prometheus text (feature `metrics`)
//! ```
//!
//! Every admin request must carry `Authorization: Bearer <token>`; the token is compared in
//! constant time, and a missing or wrong token gets `401` with `WWW-Authenticate: Bearer`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error_reply::ErrorReply;
use crate::setup_error::SetupError;

/// The `[admin]` section.
///
/// ```
/// let admin = tenantpool_resolve::AdminConfig::default();
/// assert!(!admin.enabled);
/// assert_eq!(admin.path, "/_tenantpool");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the admin endpoints. Default false.
    pub enabled: bool,
    /// Where to mount them. Default `/_tenantpool`.
    pub path: String,
    /// The bearer token; required when enabled (at least 16 characters).
    pub token: Option<String>,
    /// Serve `GET {path}/metrics` in the Prometheus text format, behind the same token.
    /// Default false; needs the `metrics` feature (see [`AdminMetrics`](crate::AdminMetrics)).
    pub metrics: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            path: "/_tenantpool".into(),
            token: None,
            metrics: false,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl AdminConfig {
    /// Reads the `[admin]` section (disabled when absent).
    ///
    /// ```
    /// let cfg = config::Config::builder().build()?;
    /// let admin = tenantpool_resolve::AdminConfig::from_config(&cfg)?;
    /// assert!(!admin.enabled);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        SetupError::load_section(config, "admin")
    }
}

const MIN_TOKEN_LEN: usize = 16;

/// Where the admin endpoints live and the token that guards them, validated.
///
/// ```
/// let guard = tenantpool_resolve::AdminGuard::new("/_tenantpool", "0123456789abcdef0123")?;
/// assert!(guard.authorized([&b"Bearer 0123456789abcdef0123"[..]]));
/// assert!(!guard.authorized([&b"Bearer wrong"[..]]));
/// # Ok::<(), tenantpool_resolve::SetupError>(())
/// ```
#[derive(Clone)]
pub struct AdminGuard {
    path: String,
    token: Arc<[u8]>,
}

impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGuard")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AdminGuard {
    /// Admin endpoints at `path` guarded by `token` (at least 16 characters).
    ///
    /// ```
    /// assert!(tenantpool_resolve::AdminGuard::new("/_tenantpool", "short").is_err());
    /// assert!(tenantpool_resolve::AdminGuard::new("_tenantpool/", "0123456789abcdef").is_err());
    /// ```
    pub fn new(path: &str, token: &str) -> Result<Self, SetupError> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(SetupError::Invalid {
                setting: "admin.token",
                reason: format!("use at least {MIN_TOKEN_LEN} characters"),
            });
        }
        if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') {
            return Err(SetupError::Invalid {
                setting: "admin.path",
                reason: format!("{path:?}: use a path like \"/_tenantpool\""),
            });
        }
        Ok(Self {
            path: path.to_string(),
            token: Arc::from(token.as_bytes()),
        })
    }

    /// `Ok(None)` when the section disables the endpoints; an error when it enables them
    /// without a usable token.
    ///
    /// ```
    /// let off = tenantpool_resolve::AdminGuard::from_config(&Default::default())?;
    /// assert!(off.is_none());
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn from_config(config: &AdminConfig) -> Result<Option<Self>, SetupError> {
        if !config.enabled {
            return Ok(None);
        }
        if config.metrics && !cfg!(feature = "metrics") {
            return Err(SetupError::Invalid {
                setting: "admin.metrics",
                reason: "built without the `metrics` feature".into(),
            });
        }
        let token = config.token.as_deref().ok_or(SetupError::Invalid {
            setting: "admin.token",
            reason: "the admin scope is enabled but no token is set".into(),
        })?;
        Self::new(&config.path, token).map(Some)
    }

    /// The path the endpoints are mounted at.
    ///
    /// ```
    /// let guard = tenantpool_resolve::AdminGuard::new("/_admin", "0123456789abcdef")?;
    /// assert_eq!(guard.path(), "/_admin");
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the `Authorization` header values (exactly one is accepted) carry the right
    /// bearer token. The comparison takes the same time whatever the client sent.
    ///
    /// ```
    /// let guard = tenantpool_resolve::AdminGuard::new("/_admin", "0123456789abcdef")?;
    /// assert!(guard.authorized([&b"bearer 0123456789abcdef"[..]]));
    /// assert!(!guard.authorized(Vec::<&[u8]>::new()));
    /// # Ok::<(), tenantpool_resolve::SetupError>(())
    /// ```
    pub fn authorized<'a>(&self, authorization: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let mut values = authorization.into_iter();
        let (Some(bytes), None) = (values.next(), values.next()) else {
            return false;
        };
        let presented = match bytes.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &bytes[7..],
            _ => return false,
        };
        constant_time_eq(presented, &self.token)
    }

    /// The reply to a request without the right token: 401 (send it with
    /// `WWW-Authenticate: Bearer`).
    ///
    /// ```
    /// assert_eq!(tenantpool_resolve::AdminGuard::unauthorized().status, 401);
    /// ```
    pub fn unauthorized() -> ErrorReply {
        ErrorReply::new(401, "missing or wrong bearer token", None)
    }
}

/// Compares in time that depends only on the length of `expected` (the secret's length is
/// fixed), never on where `presented` differs or how long it is.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut equal = (presented.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        equal &= p.ct_eq(e);
    }
    equal.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens_exactly() {
        assert!(constant_time_eq(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!constant_time_eq(b"0123456789abcdeF", b"0123456789abcdef"));
        assert!(!constant_time_eq(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!constant_time_eq(b"0123456789abcdef0", b"0123456789abcdef"));
        assert!(!constant_time_eq(b"", b"0123456789abcdef"));
    }
}
