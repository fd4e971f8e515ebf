//! [`AxumRequest`]: an http 1 request as the resolver reads it, borrowed, not copied.

use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, Method, Uri};
use tenantpool_resolve::{RepeatedHeader, RequestView};

/// An axum (http 1) request seen through [`RequestView`]: headers are read from the request's
/// own header map in place. The peer address comes from axum's [`ConnectInfo`], present when
/// the app is served with `into_make_service_with_connect_info::<SocketAddr>()` (as
/// [`GracefulShutdown::serve`](crate::GracefulShutdown::serve) does); without it no proxy is trusted.
///
/// ```
/// use axum::http::Request;
/// use tenantpool_axum::{resolve::Resolver, AxumRequest};
///
/// let resolver = Resolver::builder().header("X-Tenant-Id").build()?;
/// let req = Request::get("/notes").header("X-Tenant-Id", "acme").body(())?;
/// let found = resolver.resolve(&AxumRequest::new(&req))?;
/// assert_eq!(found.map(|r| r.tenant.to_string()), Some("acme".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AxumRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> AxumRequest<'a> {
    /// The view of `req`.
    ///
    /// ```
    /// let req = axum::http::Request::get("/").body(())?;
    /// let view = tenantpool_axum::AxumRequest::new(&req);
    /// # Ok::<(), axum::http::Error>(())
    /// ```
    pub fn new<B>(req: &'a axum::http::Request<B>) -> Self {
        Self::from_parts(req.method(), req.uri(), req.headers(), req.extensions())
    }

    /// The view of a request's parts.
    ///
    /// ```
    /// let (parts, ()) = axum::http::Request::get("/").body(())?.into_parts();
    /// let view = tenantpool_axum::AxumRequest::from_parts(&parts.method, &parts.uri, &parts.headers, &parts.extensions);
    /// # Ok::<(), axum::http::Error>(())
    /// ```
    pub fn from_parts(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            extensions,
        }
    }
}

impl RequestView for AxumRequest<'_> {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    fn authority(&self) -> Option<&str> {
        self.uri.authority().map(|a| a.as_str())
    }

    /// Looked up on demand: the resolver asks only when a trusted proxy is configured.
    fn peer_ip(&self) -> Option<IpAddr> {
        self.extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    fn header_values<'v>(&'v self, name: &str, each: &mut dyn FnMut(&'v [u8]) -> ControlFlow<()>) {
        for value in self.headers.get_all(name) {
            if each(value.as_bytes()).is_break() {
                return;
            }
        }
    }

    fn single_header(&self, name: &str) -> Result<Option<&[u8]>, RepeatedHeader> {
        let mut values = self.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (first, None) => Ok(first.map(|v| v.as_bytes())),
            (_, Some(_)) => Err(RepeatedHeader),
        }
    }
}
