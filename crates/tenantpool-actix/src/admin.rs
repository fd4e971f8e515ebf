//! The admin stats endpoint: pools, budgets and counters of each registry, as JSON.
//!
//! Off by default. When the `[admin]` section enables it, it serves
//! `GET {path}/stats` (path default `/_tenantpool`) with a JSON object keyed by registry name,
//! each value being that registry's [`tenantpool_core::Stats`] (database URLs masked), and
//! `GET {path}/stats?tenant=acme` with one tenant's figures per registry (400 for a malformed
//! key, 404 when no registry has the tenant started; see [`AdminStats`]).
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

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use tenantpool_core::{Backend, Registry};
use tenantpool_resolve::{AdminGuard, AdminStats};

use crate::response::reply_response;
use crate::SetupError;

pub use tenantpool_resolve::AdminConfig;
#[cfg(feature = "metrics")]
pub use tenantpool_resolve::AdminMetrics;

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
    guard: AdminGuard,
    stats: AdminStats,
    #[cfg(feature = "metrics")]
    metrics: Option<tenantpool_resolve::AdminMetrics>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("path", &self.guard.path())
            .field("registries", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// An admin scope at `path` guarded by `token` (at least 16 characters).
    ///
    /// ```
    /// let admin = tenantpool_actix::admin::Admin::new("/_tenantpool", "0123456789abcdef0123")?;
    /// assert!(tenantpool_actix::admin::Admin::new("/_tenantpool", "short").is_err());
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn new(path: &str, token: &str) -> Result<Self, SetupError> {
        Ok(Self {
            guard: AdminGuard::new(path, token)?,
            stats: AdminStats::default(),
            #[cfg(feature = "metrics")]
            metrics: None,
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
        let Some(guard) = AdminGuard::from_config(config)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            guard,
            stats: AdminStats::default(),
            #[cfg(feature = "metrics")]
            metrics: tenantpool_resolve::AdminMetrics::from_config(config)?,
        }))
    }

    /// Reports on `registry` under `name`.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(a: tenantpool_actix::admin::Admin, r: tenantpool_core::Registry<C>) {
    /// let admin = a.registry("primary", r);
    /// # }
    /// ```
    pub fn registry<C: Backend>(mut self, name: &str, registry: Registry<C>) -> Self {
        self.stats.add(name, registry);
        self
    }

    /// Serves `GET {path}/metrics` (Prometheus text, behind the same token) from `metrics`
    /// (feature `metrics`): every registry reported on is published, labelled with its name,
    /// then the recorder is rendered. `[admin] metrics = true` does this with the installed
    /// global recorder ([`AdminMetrics::install`](tenantpool_resolve::AdminMetrics::install)).
    ///
    /// ```no_run
    /// use tenantpool_resolve::AdminMetrics;
    /// let admin = tenantpool_actix::admin::Admin::new("/_tenantpool", "0123456789abcdef")?
    ///     .metrics(AdminMetrics::install()?);
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: tenantpool_resolve::AdminMetrics) -> Self {
        self.metrics = Some(metrics);
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
        self.guard.path()
    }

    /// The actix scope serving `GET {path}/stats`, and `GET {path}/metrics` when
    /// [`metrics`](Self::metrics) is set.
    ///
    /// ```
    /// let scope = tenantpool_actix::admin::Admin::new("/_tenantpool", "0123456789abcdef")?.scope();
    /// # Ok::<(), tenantpool_actix::SetupError>(())
    /// ```
    pub fn scope(&self) -> Scope {
        let scope = web::scope(self.guard.path())
            .app_data(web::Data::new(self.clone()))
            .route("/stats", web::get().to(stats));
        #[cfg(feature = "metrics")]
        let scope = match self.metrics {
            Some(_) => scope.route("/metrics", web::get().to(metrics)),
            None => scope,
        };
        scope
    }

    /// Whether the request carries the right bearer token.
    fn authorized(&self, req: &HttpRequest) -> bool {
        self.guard.authorized(
            req.headers()
                .get_all(AUTHORIZATION)
                .map(|value| value.as_bytes()),
        )
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
fn unauthorized() -> HttpResponse {
    let mut resp = reply_response(&AdminGuard::unauthorized());
    resp.headers_mut().insert(
        WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer"),
    );
    resp
}

async fn stats(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if !admin.authorized(&req) {
        return unauthorized();
    }
    match admin.stats.answer(Some(req.query_string())) {
        Ok(reply) => HttpResponse::Ok().json(reply),
        Err(refused) => reply_response(&refused),
    }
}

#[cfg(feature = "metrics")]
async fn metrics(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if !admin.authorized(&req) {
        return unauthorized();
    }
    match &admin.metrics {
        Some(metrics) => HttpResponse::Ok()
            .content_type(tenantpool_resolve::METRICS_CONTENT_TYPE)
            .body(metrics.render(&admin.stats)),
        None => HttpResponse::NotFound().finish(),
    }
}
