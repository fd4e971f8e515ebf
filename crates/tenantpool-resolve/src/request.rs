//! [`RequestView`]: the few parts of a request that resolution reads, borrowed from whatever
//! framework holds the request.
//!
//! actix-web 4 is built on http 0.2 and axum 0.8 on http 1: their header maps are different
//! types. Each adapter implements this trait on a small wrapper of references to its own
//! request, so the resolver reads the framework's header map in place and nothing is copied
//! on the hot path.

use std::fmt;
use std::net::IpAddr;
use std::ops::ControlFlow;

/// The parts of a request that tenant resolution reads.
///
/// Adapters implement it on a wrapper of references (`tenantpool_actix::resolve::ActixRequest`,
/// `tenantpool_axum::AxumRequest`); [`OwnedRequest`](crate::OwnedRequest) implements it for
/// tests and for requests built by hand. Custom sources
/// ([`ResolverBuilder::custom`](crate::ResolverBuilder::custom)) receive a `&dyn RequestView`,
/// with `query_string()` and `headers()` (methods of `dyn RequestView`) for reading it.
///
/// ```
/// use tenantpool_resolve::{OwnedRequest, RequestView};
/// let req = OwnedRequest::get("/notes?page=2").header("X-Tenant-Id", "acme");
/// assert_eq!(req.path(), "/notes");
/// assert_eq!(req.query(), Some("page=2"));
/// assert_eq!(req.first_header("x-tenant-id"), Some(&b"acme"[..]));
/// ```
pub trait RequestView {
    /// The method, upper case (`GET`).
    fn method(&self) -> &str;
    /// The path, without the query.
    fn path(&self) -> &str;
    /// The query, without the `?`; `None` when the URI has none.
    fn query(&self) -> Option<&str>;
    /// The URI's authority (`host:port`), present for HTTP/2 and absolute-form requests.
    fn authority(&self) -> Option<&str>;
    /// The IP address of the TCP peer, when the framework knows it.
    fn peer_ip(&self) -> Option<IpAddr>;
    /// Calls `each` with every value of the header `name` (lower case), in order, until it
    /// breaks.
    fn header_values<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a [u8]) -> ControlFlow<()>);

    /// The first value of the header `name` (lower case).
    ///
    /// ```
    /// use tenantpool_resolve::{OwnedRequest, RequestView};
    /// let req = OwnedRequest::get("/").header("Host", "a.example.com").header("Host", "b.example.com");
    /// assert_eq!(req.first_header("host"), Some(&b"a.example.com"[..]));
    /// ```
    fn first_header(&self, name: &str) -> Option<&[u8]> {
        let mut first = None;
        self.header_values(name, &mut |value| {
            first = Some(value);
            ControlFlow::Break(())
        });
        first
    }

    /// The one value of the header `name` (lower case): `Ok(None)` when absent,
    /// [`RepeatedHeader`] when given more than once. Adapters may override it with a direct
    /// lookup; the default goes through [`header_values`](Self::header_values).
    ///
    /// ```
    /// use tenantpool_resolve::{OwnedRequest, RequestView};
    /// let req = OwnedRequest::get("/").header("X-Tenant-Id", "acme");
    /// assert_eq!(req.single_header("x-tenant-id"), Ok(Some(&b"acme"[..])));
    /// assert_eq!(req.single_header("host"), Ok(None));
    /// let twice = req.clone().header("X-Tenant-Id", "globex");
    /// assert!(twice.single_header("x-tenant-id").is_err());
    /// ```
    fn single_header(&self, name: &str) -> Result<Option<&[u8]>, RepeatedHeader> {
        let mut found = None;
        let mut repeated = false;
        self.header_values(name, &mut |value| {
            if found.is_some() {
                repeated = true;
                return ControlFlow::Break(());
            }
            found = Some(value);
            ControlFlow::Continue(())
        });
        if repeated {
            Err(RepeatedHeader)
        } else {
            Ok(found)
        }
    }
}

/// A header that must appear at most once appears several times.
///
/// ```
/// assert_eq!(tenantpool_resolve::RepeatedHeader.to_string(), "the header is given more than once");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the header is given more than once")]
pub struct RepeatedHeader;

impl<'r> dyn RequestView + 'r {
    /// The query, `""` when there is none (as actix-web's `HttpRequest::query_string`).
    ///
    /// ```
    /// use tenantpool_resolve::{OwnedRequest, RequestView};
    /// let req = OwnedRequest::get("/whoami?tenant=acme");
    /// let view: &dyn RequestView = &req;
    /// assert_eq!(view.query_string(), "tenant=acme");
    /// ```
    pub fn query_string(&self) -> &str {
        self.query().unwrap_or("")
    }

    /// The request's headers, to read by name.
    ///
    /// ```
    /// use tenantpool_resolve::{OwnedRequest, RequestView};
    /// let req = OwnedRequest::get("/").header("X-Gateway-Tenant", "acme");
    /// let view: &dyn RequestView = &req;
    /// assert_eq!(view.headers().get("x-gateway-tenant").and_then(|v| v.to_str().ok()), Some("acme"));
    /// ```
    pub fn headers(&self) -> Headers<'_> {
        Headers { req: self }
    }
}

/// The headers of a [`RequestView`], read by name (any case).
///
/// ```
/// use tenantpool_resolve::{OwnedRequest, RequestView};
/// let req = OwnedRequest::get("/").header("Cookie", "a=1").header("Cookie", "b=2");
/// let view: &dyn RequestView = &req;
/// assert_eq!(view.headers().get_all("cookie").len(), 2);
/// ```
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    req: &'a dyn RequestView,
}

impl<'a> Headers<'a> {
    /// The first value of header `name`.
    ///
    /// ```
    /// # use tenantpool_resolve::{OwnedRequest, RequestView};
    /// # let req = OwnedRequest::get("/").header("X-A", "1");
    /// # let view: &dyn RequestView = &req;
    /// assert_eq!(view.headers().get("X-A").map(|v| v.as_bytes()), Some(&b"1"[..]));
    /// ```
    pub fn get(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.req
            .first_header(&name.to_ascii_lowercase())
            .map(HeaderValue)
    }

    /// Every value of header `name`, in order.
    ///
    /// ```
    /// # use tenantpool_resolve::{OwnedRequest, RequestView};
    /// # let req = OwnedRequest::get("/").header("X-A", "1");
    /// # let view: &dyn RequestView = &req;
    /// assert_eq!(view.headers().get_all("x-a").len(), 1);
    /// ```
    pub fn get_all(&self, name: &str) -> Vec<HeaderValue<'a>> {
        let mut all = Vec::new();
        self.req
            .header_values(&name.to_ascii_lowercase(), &mut |value| {
                all.push(HeaderValue(value));
                ControlFlow::Continue(())
            });
        all
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Headers").finish_non_exhaustive()
    }
}

/// One header value, borrowed from the request.
///
/// ```
/// # use tenantpool_resolve::{OwnedRequest, RequestView};
/// # let req = OwnedRequest::get("/").header("X-A", "caf\u{e9}");
/// # let view: &dyn RequestView = &req;
/// let value = view.headers().get("x-a").unwrap();
/// assert!(value.to_str().is_err()); // not visible ASCII
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderValue<'a>(&'a [u8]);

impl<'a> HeaderValue<'a> {
    /// The raw bytes.
    ///
    /// ```
    /// # use tenantpool_resolve::{OwnedRequest, RequestView};
    /// # let req = OwnedRequest::get("/").header("X-A", "1");
    /// # let view: &dyn RequestView = &req;
    /// assert_eq!(view.headers().get("x-a").unwrap().as_bytes(), b"1");
    /// ```
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The value as text when it is visible ASCII (spaces and tabs allowed), as the `http`
    /// crate's `HeaderValue::to_str`.
    ///
    /// ```
    /// # use tenantpool_resolve::{OwnedRequest, RequestView};
    /// # let req = OwnedRequest::get("/").header("X-A", "acme");
    /// # let view: &dyn RequestView = &req;
    /// assert_eq!(view.headers().get("x-a").unwrap().to_str(), Ok("acme"));
    /// ```
    pub fn to_str(&self) -> Result<&'a str, NotVisibleAscii> {
        if self
            .0
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            std::str::from_utf8(self.0).map_err(|_| NotVisibleAscii)
        } else {
            Err(NotVisibleAscii)
        }
    }
}

/// A header value that is not visible ASCII.
///
/// ```
/// let e = tenantpool_resolve::NotVisibleAscii;
/// assert_eq!(e.to_string(), "the header value is not visible ASCII");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the header value is not visible ASCII")]
pub struct NotVisibleAscii;

impl<T: RequestView + ?Sized> RequestView for &T {
    fn method(&self) -> &str {
        (**self).method()
    }
    fn path(&self) -> &str {
        (**self).path()
    }
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
    fn authority(&self) -> Option<&str> {
        (**self).authority()
    }
    fn peer_ip(&self) -> Option<IpAddr> {
        (**self).peer_ip()
    }
    fn header_values<'a>(&'a self, name: &str, each: &mut dyn FnMut(&'a [u8]) -> ControlFlow<()>) {
        (**self).header_values(name, each)
    }
    fn single_header(&self, name: &str) -> Result<Option<&[u8]>, RepeatedHeader> {
        (**self).single_header(name)
    }
}
