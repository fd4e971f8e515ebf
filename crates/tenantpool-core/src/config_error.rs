//! Configuration errors: a setting, URL, schema name or template that cannot work.
//!
//! Raised when settings are loaded or a registry is built, and at request time only when a
//! directory hands out a target the registry cannot serve. Messages never echo a password.

/// A configuration that cannot work. HTTP 500 when it surfaces at request time.
///
/// ```
/// use tenantpool_core::{ConfigError, DatabaseUrl};
/// let err = DatabaseUrl::parse("postgres://u:secret@[::1/db").unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidUrl { .. }));
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A database URL does not parse or names an unsupported backend.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A schema name contains characters that cannot be quoted safely.
    #[error("invalid schema name {schema:?}: use 1-63 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidSchema {
        /// The rejected name (escaped).
        schema: String,
    },
    /// A URL or schema template is unusable.
    #[error("invalid template {template:?}: {reason}")]
    InvalidTemplate {
        /// The template, password masked.
        template: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A target names a backend this registry does not serve, or an isolation mode the backend
    /// cannot do.
    #[error("tenant target {target} cannot be served: {reason}")]
    Unsupported {
        /// The target, password masked.
        target: String,
        /// Why.
        reason: String,
    },
    /// Reading or deserialising a configuration source failed.
    #[error("cannot load configuration: {reason}")]
    Load {
        /// What the config crate reported (URLs masked).
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting's path, e.g. `pool.max_size`.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}
