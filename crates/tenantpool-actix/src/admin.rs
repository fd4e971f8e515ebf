//! The admin stats endpoint: pools, budgets and counters of each registry, as JSON.
//!
//! Off by default. When the `[admin]` section enables it, it serves
//! `GET {path}/stats` (path default `/_tenantpool`) with a JSON object keyed by registry name,
//! each value being that registry's [`tenantpool_core::Stats`] (database URLs masked).
//! Every request must carry `Authorization: Bearer <token>`; the token is compared in
//! constant time, and a missing or wrong token gets `401` with `WWW-Authenticate: Bearer`.
//!
//! ```toml
//! [admin]
//! enabled = true
//! path = "/_tenantpool"
//! token = "a long random string"   # or NOTES_ADMIN__TOKEN in the environment
//! ```
//!
//! Mount it outside the tenant resolution (or list its path in `resolve.exempt`): the stats
//! belong to no tenant.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tenantpool_core::{Backend, Registry, Stats};

use crate::response::error_response;
use crate::SetupError;

/// The `[admin]` section.
///
/// ```
/// let admin = tenantpool_actix::admin::AdminConfig::default();
/// assert!(!admin.enabled);
/// assert_eq!(admin.path, "/_tenantpool");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the admin scope. Default false.
    pub enabled: bool,
    /// Where to mount it. Default `/_tenantpool`.
    pub path: String,
    /// The bearer token; required when enabled (at least 16 characters).
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            path: "/_tenantpool".into(),
            token: None,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl AdminConfig {
    /// Reads the `[admin]` section (disabled when absent).
    ///
    /// ```
    /// let cfg = config::Config::builder().build()?;
    /// let admin = tenantpool_actix::admin::AdminConfig::from_config(&cfg)?;
    /// assert!(!admin.enabled);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(config: &config::Config) -> Result<Self, SetupError> {
        SetupError::load_section(config, "admin")
    }
}

type StatsFn = dyn Fn() -> Stats + Send + Sync;

/// The admin scope: registries to report on, and the token that guards them.
///
/// ```
/// use actix_web::App;
/// use tenantpool_actix::admin::{Admin, AdminConfig};
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) -> Result<(), tenantpool_actix::SetupError> {
/// let mut cfg = AdminConfig::default();
/// cfg.enabled = true;
/// cfg.token = Some("correct horse battery staple".into());
/// if let Some(admin) = Admin::from_config(&cfg)? {
///     let admin = admin.registry("primary", registry);
///     let app = App::new().service(admin.scope());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Admin {
    path: String,
    token: Arc<[u8]>,
    registries: Vec<(String, Arc<StatsFn>)>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("path", &self.path)
            .field(
                "registries",
                &self.registries.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

const MIN_TOKEN_LEN: usize = 16;

impl Admin {
    /// An admin scope at `path` guarded by `token` (at least 16 characters).
    ///
    /// ```
    /// let admin = tenantpool_actix::admin::Admin::new("/_tenantpool", "0123456789abcdef0123")?;
    /// assert!(tenantpool_actix::admin::Admin::new("/_tenantpool", "short").is_err());
    /// # Ok::<(), tenantpool_actix::SetupError>(())
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
            registries: Vec::new(),
        })
    }

    /// `Ok(None)` when the section disables the scope; an error when it is enabled without a
    /// usable token.
    ///
    /// ```
    /// let off = tenantpool_actix::admin::Admin::from_config(&Default::default())?;
    /// assert!(off.is_none());
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn from_config(config: &AdminConfig) -> Result<Option<Self>, SetupError> {
        if !config.enabled {
            return Ok(None);
        }
        let token = config.token.as_deref().ok_or(SetupError::Invalid {
            setting: "admin.token",
            reason: "the admin scope is enabled but no token is set".into(),
        })?;
        Self::new(&config.path, token).map(Some)
    }

    /// Reports on `registry` under `name`.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(a: tenantpool_actix::admin::Admin, r: tenantpool_core::Registry<C>) {
    /// let admin = a.registry("primary", r);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, name: &str, registry: Registry<C>) -> Self {
        self.registries
            .push((name.to_string(), Arc::new(move || registry.stats())));
        self
    }

    /// The path the scope is mounted at.
    ///
    /// ```
    /// let admin = tenantpool_actix::admin::Admin::new("/_admin", "0123456789abcdef")?;
    /// assert_eq!(admin.path(), "/_admin");
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The actix scope serving `GET {path}/stats`.
    ///
    /// ```
    /// let scope = tenantpool_actix::admin::Admin::new("/_tenantpool", "0123456789abcdef")?.scope();
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn scope(&self) -> Scope {
        web::scope(&self.path)
            .app_data(web::Data::new(self.clone()))
            .route("/stats", web::get().to(stats))
    }

    /// Whether the request carries the right bearer token. The comparison takes the same
    /// time whatever the client sent.
    fn authorized(&self, req: &HttpRequest) -> bool {
        let mut values = req.headers().get_all(AUTHORIZATION);
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let bytes = value.as_bytes();
        let presented = match bytes.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &bytes[7..],
            _ => return false,
        };
        constant_time_eq(presented, &self.token)
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

async fn stats(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if !admin.authorized(&req) {
        let mut resp = error_response(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
            None,
        );
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    let all: BTreeMap<&str, Stats> = admin
        .registries
        .iter()
        .map(|(name, stats)| (name.as_str(), stats()))
        .collect();
    HttpResponse::Ok().json(all)
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
