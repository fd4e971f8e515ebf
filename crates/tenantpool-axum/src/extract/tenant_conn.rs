//! The [`TenantConn`] extractor: a connection of the request's tenant, checked out for the
//! handler and handed back to its pool when the handler is done with it.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenantpool_core::{is_connection_error, Backend, PooledConnection, TenantId};
use tenantpool_resolve::{Primary, Role};

use crate::extract::registry::TenantRegistry;
use crate::extract::rejection::TenantConnRejection;
use crate::extract::tenant::Tenant;
use crate::query::QueryError;

/// A connection for the request's tenant, from the registry of type `C` and role `R`.
///
/// Derefs to `C`, so diesel-async queries take `&mut conn`. It goes back to its pool when
/// dropped (closed instead when a transaction is still open, or when the handler panicked).
///
#[cfg_attr(feature = "postgres", doc = "```no_run")]
#[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
/// use diesel_async::{AsyncPgConnection, RunQueryDsl};
/// use tenantpool_axum::{Replica, TenantConn};
///
/// async fn count(mut conn: TenantConn<AsyncPgConnection, Replica>) -> String {
///     let n = diesel::sql_query("SELECT 1").execute(&mut conn).await;
///     format!("{n:?}")
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
    /// # fn f<C: tenantpool_core::Backend>(conn: tenantpool_axum::TenantConn<C>) {
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
    /// # fn f<C: tenantpool_core::Backend>(mut conn: tenantpool_axum::TenantConn<C>) {
    /// conn.discard();
    /// # }
    /// ```
    pub fn discard(&mut self) {
        self.conn.discard();
    }

    /// Turns a failed query on this connection into a [`QueryError`]: a 503 with
    /// `Retry-After` when the connection to the database was lost, a generic 500 otherwise.
    /// A lost connection is also marked for closing, so that it is never handed to another
    /// request.
    ///
    #[cfg_attr(feature = "postgres", doc = "```no_run")]
    #[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
    /// use diesel_async::{AsyncPgConnection, RunQueryDsl};
    /// use tenantpool_axum::{QueryError, TenantConn};
    ///
    /// async fn purge(mut conn: TenantConn<AsyncPgConnection>) -> Result<String, QueryError> {
    ///     let n = diesel::sql_query("DELETE FROM sessions")
    ///         .execute(&mut conn)
    ///         .await
    ///         .map_err(|e| conn.query_error(e))?;
    ///     Ok(n.to_string())
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
    /// # fn f<C: tenantpool_core::Backend>(conn: tenantpool_axum::TenantConn<C>) {
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

impl<C: Backend, R: Role, S: Send + Sync> FromRequestParts<S> for TenantConn<C, R> {
    type Rejection = TenantConnRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Both are borrowed from the request: nothing is cloned per checkout.
        let tenant = Tenant::from_extensions(&parts.extensions)?;
        let registry = TenantRegistry::<C, R>::from_extensions(&parts.extensions)?;
        let conn = registry
            .get(tenant.id())
            .await
            .map_err(|e| TenantConnRejection::Checkout(e.into()))?;
        Ok(Self {
            conn,
            _role: PhantomData,
        })
    }
}
