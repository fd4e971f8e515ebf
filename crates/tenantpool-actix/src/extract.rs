//! Extractors: the resolved tenant, its registry, and a connection scoped to the request.
//!
//! - [`Tenant`]: the tenant the middleware resolved.
//! - [`TenantRegistry<C, R>`]: the registry of connection type `C` in role `R`, registered as
//!   app data; also an extractor.
//! - [`TenantConn<C, R>`]: a connection of type `C` checked out from that registry for the
//!   request's tenant. It goes back to its pool (or is closed, when dirty) when the handler
//!   drops it, returns, fails or panics.
//!
//! The role `R` picks the registry per route: `TenantConn<AsyncPgConnection>` uses the
//! [`Primary`] registry, `TenantConn<AsyncPgConnection, Replica>` the [`Replica`] one, and a
//! PostgreSQL and a MySQL registry can live side by side because `C` differs. Define more
//! roles with [`role!`](crate::role).
//!
//! Each extractor has its own rejection type with a precise status: a missing registry is a
//! 500 whose message names the missing app-data type, never a panic.

use std::any::type_name;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use tenantpool_core::{is_connection_error, Backend, PooledConnection, Registry, TenantId};

use crate::query::QueryError;
use crate::resolve::ResolvedBy;
use crate::response::{error_response, TenantError};

/// Names a registry role, so that one app can hold several registries of the same connection
/// type (see [`role!`](crate::role)).
///
/// ```
/// use tenantpool_actix::{Role, Replica};
/// assert_eq!(Replica::NAME, "Replica");
/// ```
pub trait Role: Send + Sync + 'static {
    /// The role's name, for messages.
    const NAME: &'static str;
}

/// The default role: the registry most routes use.
///
/// ```
/// use tenantpool_actix::{Primary, Role};
/// assert_eq!(Primary::NAME, "Primary");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Primary;

impl Role for Primary {
    const NAME: &'static str = "Primary";
}

/// A second role, for read replicas.
///
/// ```
/// use tenantpool_actix::{Replica, Role};
/// assert_eq!(Replica::NAME, "Replica");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Replica;

impl Role for Replica {
    const NAME: &'static str = "Replica";
}

/// Declares a registry role: a unit struct implementing [`Role`].
///
/// ```
/// tenantpool_actix::role!(
///     /// The analytics warehouse.
///     pub Analytics
/// );
/// use tenantpool_actix::Role;
/// assert_eq!(Analytics::NAME, "Analytics");
/// ```
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = stringify!($name);
        }
    };
}

/// The tenant of the request, as resolved by the [`ResolveTenant`](crate::ResolveTenant)
/// middleware.
///
/// ```
/// use actix_web::{get, HttpResponse};
/// use tenantpool_actix::Tenant;
///
/// #[get("/whoami")]
/// async fn whoami(tenant: Tenant) -> HttpResponse {
///     HttpResponse::Ok().body(format!("{} (from the {})", tenant, tenant.source()))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Tenant {
    id: TenantId,
    source: ResolvedBy,
}

impl Tenant {
    /// A tenant resolved by `source`; the middleware inserts it into the request extensions.
    ///
    /// ```
    /// use tenantpool_actix::{resolve::ResolvedBy, Tenant};
    /// let t = Tenant::new("acme".parse()?, ResolvedBy::Header);
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn new(id: TenantId, source: ResolvedBy) -> Self {
        Self { id, source }
    }

    /// The tenant key.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.id().as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant key as a string.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }

    /// The source that found it.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// assert_eq!(t.source().to_string(), "header");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn source(&self) -> &ResolvedBy {
        &self.source
    }

    /// The tenant key, by value.
    ///
    /// ```
    /// # let t = tenantpool_actix::Tenant::new("acme".parse()?, tenantpool_actix::resolve::ResolvedBy::Header);
    /// let id: tenantpool_core::TenantId = t.into_id();
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn into_id(self) -> TenantId {
        self.id
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id.as_str())
    }
}

/// Left in the extensions by a middleware that ran but found no tenant (optional mode, or an
/// exempt path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoTenant;

/// Why [`Tenant`] could not be extracted.
///
/// ```
/// use actix_web::ResponseError;
/// use tenantpool_actix::TenantRejection;
/// assert_eq!(TenantRejection::Missing.status_code(), 400);
/// assert_eq!(TenantRejection::NotResolved.status_code(), 500);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// The resolution middleware ran but found no tenant (it is optional here, or the path
    /// is exempt): 400.
    #[error("this route needs a tenant, and the request names none")]
    Missing,
    /// The resolution middleware did not run for this route: a setup error, 500.
    #[error("no tenant was resolved: wrap this route with tenantpool_actix::ResolveTenant")]
    NotResolved,
}

impl ResponseError for TenantRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::BAD_REQUEST,
            Self::NotResolved => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::NotResolved) {
            tracing::error!("{self}");
        }
        error_response(self.status_code(), self.to_string(), None)
    }
}

impl Tenant {
    fn from_extensions(req: &HttpRequest) -> Result<Self, TenantRejection> {
        let ext = req.extensions();
        if let Some(tenant) = ext.get::<Tenant>() {
            return Ok(tenant.clone());
        }
        if ext.get::<NoTenant>().is_some() {
            Err(TenantRejection::Missing)
        } else {
            Err(TenantRejection::NotResolved)
        }
    }
}

impl FromRequest for Tenant {
    type Error = TenantRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_extensions(req))
    }
}

/// The registry of connection type `C` in role `R`, as app data and as an extractor.
///
/// Register one per connection type and role with `App::app_data`; the [`TenantConn`]
/// extractor of the same `C` and `R` finds it there. Build the registry once, outside the
/// `HttpServer::new` closure, and clone it in: every worker must share it.
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use actix_web::{web, App, HttpServer};
/// use diesel_async::AsyncPgConnection;
/// use tenantpool_actix::{Replica, TenantRegistry};
/// use tenantpool_core::{Registry, Settings};
///
/// # async fn run(primary: Registry<AsyncPgConnection>, replica: Registry<AsyncPgConnection>) -> std::io::Result<()> {
/// HttpServer::new(move || {
///     App::new()
///         .app_data(TenantRegistry::<AsyncPgConnection>::new(primary.clone()))
///         .app_data(TenantRegistry::<AsyncPgConnection, Replica>::with_role(replica.clone()))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
pub struct TenantRegistry<C: Backend, R: Role = Primary> {
    registry: Registry<C>,
    _role: PhantomData<fn() -> R>,
}

impl<C: Backend> TenantRegistry<C, Primary> {
    /// Wraps the [`Primary`] registry of connection type `C`.
    ///
    /// ```
    /// use tenantpool_actix::TenantRegistry;
    /// use tenantpool_core::{Backend, Registry};
    /// fn wrap<C: Backend>(registry: Registry<C>) -> TenantRegistry<C> {
    ///     TenantRegistry::new(registry)
    /// }
    /// ```
    pub fn new(registry: Registry<C>) -> Self {
        Self::with_role(registry)
    }
}

impl<C: Backend, R: Role> TenantRegistry<C, R> {
    /// Wraps a registry for role `R`.
    ///
    /// ```
    /// use tenantpool_actix::{Replica, TenantRegistry};
    /// use tenantpool_core::{Backend, Registry};
    /// fn wrap<C: Backend>(registry: Registry<C>) -> TenantRegistry<C, Replica> {
    ///     TenantRegistry::with_role(registry)
    /// }
    /// ```
    pub fn with_role(registry: Registry<C>) -> Self {
        Self {
            registry,
            _role: PhantomData,
        }
    }

    /// The registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_actix::TenantRegistry<C>) {
    /// let stats = r.registry().stats();
    /// # }
    /// ```
    pub fn registry(&self) -> &Registry<C> {
        &self.registry
    }

    /// Unwraps the registry.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(r: tenantpool_actix::TenantRegistry<C>) {
    /// let registry = r.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> Registry<C> {
        self.registry
    }
}

impl<C: Backend, R: Role> Clone for TenantRegistry<C, R> {
    fn clone(&self) -> Self {
        Self::with_role(self.registry.clone())
    }
}

impl<C: Backend, R: Role> std::fmt::Debug for TenantRegistry<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRegistry")
            .field("role", &R::NAME)
            .field("registry", &self.registry)
            .finish()
    }
}

impl<C: Backend, R: Role> Deref for TenantRegistry<C, R> {
    type Target = Registry<C>;

    fn deref(&self) -> &Registry<C> {
        &self.registry
    }
}

/// A registry the app did not register: 500, naming the missing app-data type.
///
/// ```
/// use actix_web::ResponseError;
/// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Replica>("MyConn");
/// assert_eq!(e.status_code(), 500);
/// assert!(e.to_string().contains("MyConn"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("missing app data {type_name}: register it with App::app_data(TenantRegistry::<{connection}, {role}>::with_role(registry))")]
pub struct MissingRegistry {
    type_name: &'static str,
    connection: &'static str,
    role: &'static str,
}

impl MissingRegistry {
    /// The rejection for a missing `TenantRegistry<connection, R>`.
    ///
    /// ```
    /// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Primary>("AsyncPgConnection");
    /// ```
    pub fn of<R: Role>(connection: &'static str) -> Self {
        Self {
            type_name: "TenantRegistry",
            connection,
            role: R::NAME,
        }
    }

    fn for_registry<C: Backend, R: Role>() -> Self {
        Self {
            type_name: type_name::<TenantRegistry<C, R>>(),
            connection: type_name::<C>(),
            role: R::NAME,
        }
    }

    /// The full name of the missing app-data type.
    ///
    /// ```
    /// let e = tenantpool_actix::MissingRegistry::of::<tenantpool_actix::Primary>("C");
    /// assert_eq!(e.type_name(), "TenantRegistry");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl ResponseError for MissingRegistry {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!("{self}");
        error_response(self.status_code(), self.to_string(), None)
    }
}

impl<C: Backend, R: Role> TenantRegistry<C, R> {
    fn from_app_data(req: &HttpRequest) -> Result<Self, MissingRegistry> {
        req.app_data::<Self>()
            .cloned()
            .ok_or_else(MissingRegistry::for_registry::<C, R>)
    }
}

impl<C: Backend, R: Role> FromRequest for TenantRegistry<C, R> {
    type Error = MissingRegistry;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_app_data(req))
    }
}

/// A connection for the request's tenant, from the registry of type `C` and role `R`.
///
/// Derefs to `C`, so diesel-async queries take `&mut conn`. It goes back to its pool when
/// dropped (closed instead when a transaction is still open, or when the handler panicked).
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use actix_web::{get, HttpResponse};
/// use diesel_async::{AsyncPgConnection, RunQueryDsl};
/// use tenantpool_actix::{Replica, TenantConn, TenantError};
///
/// #[get("/count")]
/// async fn count(mut conn: TenantConn<AsyncPgConnection, Replica>) -> HttpResponse {
///     let n = diesel::sql_query("SELECT 1").execute(&mut conn).await;
///     HttpResponse::Ok().body(format!("{n:?}"))
/// }
/// ```
pub struct TenantConn<C: Backend, R: Role = Primary> {
    conn: PooledConnection<C>,
    _role: PhantomData<fn() -> R>,
}

impl<C: Backend, R: Role> TenantConn<C, R> {
    /// The tenant the connection belongs to.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(conn: tenantpool_actix::TenantConn<C>) {
    /// println!("{}", conn.tenant());
    /// # }
    /// ```
    pub fn tenant(&self) -> &TenantId {
        self.conn.tenant()
    }

    /// Closes the connection when dropped instead of reusing it: call it after changing
    /// session state (see [`PooledConnection::discard`]).
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(mut conn: tenantpool_actix::TenantConn<C>) {
    /// conn.discard();
    /// # }
    /// ```
    pub fn discard(&mut self) {
        self.conn.discard();
    }

    /// Turns a failed query on this connection into a [`QueryError`]: a 503 with
    /// `Retry-After` when the connection to the database was lost (its socket is closed, or
    /// the error says so: see [`tenantpool_core::is_connection_error`]), a generic 500
    /// otherwise. A lost connection is also marked for closing, so that it is never handed to
    /// another request (MySQL cannot tell a dead socket locally; this makes sure).
    ///
    #[cfg_attr(feature = "postgres", doc = "```no_run")]
    #[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
    /// use actix_web::HttpResponse;
    /// use diesel_async::{AsyncPgConnection, RunQueryDsl};
    /// use tenantpool_actix::{QueryError, TenantConn};
    ///
    /// async fn purge(mut conn: TenantConn<AsyncPgConnection>) -> Result<HttpResponse, QueryError> {
    ///     let n = diesel::sql_query("DELETE FROM sessions")
    ///         .execute(&mut conn)
    ///         .await
    ///         .map_err(|e| conn.query_error(e))?;
    ///     Ok(HttpResponse::Ok().body(n.to_string()))
    /// }
    /// ```
    pub fn query_error(&mut self, error: diesel::result::Error) -> QueryError {
        let tenant = self.conn.tenant().clone();
        if self.conn.is_lost() || is_connection_error(&error) {
            self.conn.discard();
            QueryError::lost(tenant, error)
        } else {
            QueryError::new(tenant, error)
        }
    }

    /// The core's guard.
    ///
    /// ```
    /// # fn f<C: tenantpool_core::Backend>(conn: tenantpool_actix::TenantConn<C>) {
    /// let guard: tenantpool_core::PooledConnection<C> = conn.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> PooledConnection<C> {
        self.conn
    }
}

impl<C: Backend, R: Role> Deref for TenantConn<C, R> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C: Backend, R: Role> DerefMut for TenantConn<C, R> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

impl<C: Backend, R: Role> std::fmt::Debug for TenantConn<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConn")
            .field("role", &R::NAME)
            .field("conn", &self.conn)
            .finish()
    }
}

/// Why [`TenantConn`] could not be extracted.
///
/// ```
/// use actix_web::ResponseError;
/// use tenantpool_actix::{TenantConnRejection, TenantRejection};
/// let e = TenantConnRejection::from(TenantRejection::Missing);
/// assert_eq!(e.status_code(), 400);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantConnRejection {
    /// No tenant: see [`TenantRejection`].
    #[error(transparent)]
    Tenant(#[from] TenantRejection),
    /// The registry is not registered: 500.
    #[error(transparent)]
    MissingRegistry(#[from] MissingRegistry),
    /// The checkout failed: 400, 404, 503 or 500 (see [`TenantError`]).
    #[error(transparent)]
    Checkout(#[from] TenantError),
}

impl ResponseError for TenantConnRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Tenant(e) => e.status_code(),
            Self::MissingRegistry(e) => e.status_code(),
            Self::Checkout(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Tenant(e) => e.error_response(),
            Self::MissingRegistry(e) => e.error_response(),
            Self::Checkout(e) => e.error_response(),
        }
    }
}

impl<C: Backend, R: Role> FromRequest for TenantConn<C, R> {
    type Error = TenantConnRejection;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = Tenant::from_extensions(req)
            .map_err(TenantConnRejection::from)
            .and_then(|tenant| {
                let registry = TenantRegistry::<C, R>::from_app_data(req)?;
                Ok((tenant, registry))
            });
        Box::pin(async move {
            let (tenant, registry) = found?;
            let conn = registry
                .get(tenant.id())
                .await
                .map_err(|e| TenantConnRejection::Checkout(e.into()))?;
            Ok(TenantConn {
                conn,
                _role: PhantomData,
            })
        })
    }
}
