//! [`OwnedRequest`]: a request built by hand, for tests, examples and callers outside any web
//! framework (a queue consumer that resolves tenants the way the web tier does).

use std::net::IpAddr;
use std::ops::ControlFlow;

use crate::request::RequestView;

/// A request that owns its parts; header names are kept in lower case.
///
/// ```
/// use tenantpool_resolve::{OwnedRequest, Resolver};
/// let resolver = Resolver::builder().subdomain_of("example.com").build()?;
/// let req = OwnedRequest::get("/notes").header("Host", "acme.example.com");
/// assert_eq!(resolver.resolve(&req)?.map(|r| r.tenant.to_string()), Some("acme".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OwnedRequest {
    method: String,
    path: String,
    query: Option<String>,
    authority: Option<String>,
    peer: Option<IpAddr>,
    headers: Vec<(String, Vec<u8>)>,
}

impl OwnedRequest {
    /// A request with `method` for `path_and_query` (`/notes?page=2`).
    ///
    /// ```
    /// let req = tenantpool_resolve::OwnedRequest::new("POST", "/notes");
    /// ```
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (path_and_query, None),
        };
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query,
            ..Self::default()
        }
    }

    /// A `GET` request for `path_and_query`.
    ///
    /// ```
    /// let req = tenantpool_resolve::OwnedRequest::get("/healthz");
    /// ```
    pub fn get(path_and_query: &str) -> Self {
        Self::new("GET", path_and_query)
    }

    /// Adds a header value (a repeated name adds another value).
    ///
    /// ```
    /// let req = tenantpool_resolve::OwnedRequest::get("/").header("X-Tenant-Id", "acme");
    /// ```
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// Sets the URI's authority, as an HTTP/2 request carries it.
    ///
    /// ```
    /// let req = tenantpool_resolve::OwnedRequest::get("/").authority("acme.example.com");
    /// ```
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.to_string());
        self
    }

    /// Sets the TCP peer's address.
    ///
    /// ```
    /// let req = tenantpool_resolve::OwnedRequest::get("/").peer([10, 0, 0, 1].into());
    /// ```
    pub fn peer(mut self, ip: IpAddr) -> Self {
        self.peer = Some(ip);
        self
    }
}

impl RequestView for OwnedRequest {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn header_values<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a [u8]) -> ControlFlow<()>) {
        for (n, value) in &self.headers {
            if n == name && each(value).is_break() {
                return;
            }
        }
    }
}
