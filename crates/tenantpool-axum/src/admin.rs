//! The admin stats endpoint as a [`Router`] to nest: pools, budgets and counters of each
//! registry, as JSON, behind a bearer token.
//!
//! Off by default. When the `[admin]` section enables it, it serves `GET {path}/stats` (path
//! default `/_tenantpool`) with a JSON object keyed by registry name, each value being that
//! registry's [`tenantpool_core::Stats`] (database URLs masked), and with `?tenant=acme` one
//! tenant's figures per registry (400 for a malformed key, 404 when no registry has the tenant
//! started; see [`AdminStats`]). Every request must carry
//! `Authorization: Bearer <token>`; the token is compared in constant time, and a missing
//! or wrong token gets `401` with `WWW-Authenticate: Bearer` (the guard is
//! [`tenantpool_resolve::AdminGuard`], shared with the actix adapter).
//!
//! Mount it outside the tenant resolution, or list its path in `resolve.exempt`: the stats
//! belong to no tenant.

use axum::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tenantpool_core::{Backend, Registry};
use tenantpool_resolve::{AdminGuard, AdminStats, SetupError};

use crate::reply::reply_response;

pub use tenantpool_resolve::AdminConfig;
#[cfg(feature = "metrics")]
pub use tenantpool_resolve::AdminMetrics;

/// The admin endpoints: registries to report on, and the token that guards them.
///
/// ```
/// use axum::Router;
/// use tenantpool_axum::admin::{Admin, AdminConfig};
///
/// # fn f<C: tenantpool_core::Backend>(registry: tenantpool_core::Registry<C>) -> Result<(), tenantpool_axum::SetupError> {
/// let mut cfg = AdminConfig::default();
/// cfg.enabled = true;
/// cfg.token = Some("correct horse battery staple".into());
/// if let Some(admin) = Admin::from_config(&cfg)? {
///     let admin = admin.registry("primary", registry);
///     let app: Router = Router::new().nest(admin.path(), admin.router());
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
    /// Admin endpoints at `path` guarded by `token` (at least 16 characters).
    ///
    /// ```
    /// let admin = tenantpool_axum::admin::Admin::new("/_tenantpool", "0123456789abcdef0123")?;
    /// assert!(tenantpool_axum::admin::Admin::new("/_tenantpool", "short").is_err());
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    pub fn new(path: &str, token: &str) -> Result<Self, SetupError> {
        Ok(Self {
            guard: AdminGuard::new(path, token)?,
            stats: AdminStats::default(),
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    /// `Ok(None)` when the section disables the endpoints; an error when it enables them
    /// without a usable token.
    ///
    /// ```
    /// let off = tenantpool_axum::admin::Admin::from_config(&Default::default())?;
    /// assert!(off.is_none());
    /// # Ok::<(), tenantpool_axum::SetupError>(())
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
    /// # fn f<C: tenantpool_core::Backend>(a: tenantpool_axum::admin::Admin, r: tenantpool_core::Registry<C>) {
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
    /// let admin = tenantpool_axum::admin::Admin::new("/_tenantpool", "0123456789abcdef")?
    ///     .metrics(AdminMetrics::install()?);
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: tenantpool_resolve::AdminMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The path to nest the router at.
    ///
    /// ```
    /// let admin = tenantpool_axum::admin::Admin::new("/_admin", "0123456789abcdef")?;
    /// assert_eq!(admin.path(), "/_admin");
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    pub fn path(&self) -> &str {
        self.guard.path()
    }

    /// The router serving `GET /stats` (and `GET /stats?tenant=<key>`), and `GET /metrics`
    /// when [`metrics`](Self::metrics) is set; nest it at [`path`](Self::path).
    ///
    /// ```
    /// let admin = tenantpool_axum::admin::Admin::new("/_tenantpool", "0123456789abcdef")?;
    /// let app: axum::Router = axum::Router::new().nest(admin.path(), admin.router());
    /// # Ok::<(), tenantpool_axum::SetupError>(())
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let admin = self.clone();
        let router =
            Router::new().route(
                "/stats",
                get(move |headers: HeaderMap, uri: Uri| async move {
                    admin.stats(&headers, uri.query())
                }),
            );
        #[cfg(feature = "metrics")]
        let router = match self.metrics.clone() {
            Some(metrics) => {
                let admin = self.clone();
                router.route(
                    "/metrics",
                    get(move |headers: HeaderMap| async move {
                        admin.metrics_text(&headers, &metrics)
                    }),
                )
            }
            None => router,
        };
        router
    }

    /// 401 with `WWW-Authenticate: Bearer` unless the request carries the token.
    fn refuse_unauthorized(&self, headers: &HeaderMap) -> Option<Response> {
        let presented = headers.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes());
        if self.guard.authorized(presented) {
            return None;
        }
        let mut resp = reply_response(&AdminGuard::unauthorized());
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Some(resp)
    }

    #[cfg(feature = "metrics")]
    fn metrics_text(
        &self,
        headers: &HeaderMap,
        metrics: &tenantpool_resolve::AdminMetrics,
    ) -> Response {
        if let Some(refused) = self.refuse_unauthorized(headers) {
            return refused;
        }
        (
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(tenantpool_resolve::METRICS_CONTENT_TYPE),
            )],
            metrics.render(&self.stats),
        )
            .into_response()
    }

    fn stats(&self, headers: &HeaderMap, query: Option<&str>) -> Response {
        if let Some(refused) = self.refuse_unauthorized(headers) {
            return refused;
        }
        match self.stats.answer(query) {
            Ok(reply) => Json(reply).into_response(),
            Err(refused) => reply_response(&refused),
        }
    }
}
