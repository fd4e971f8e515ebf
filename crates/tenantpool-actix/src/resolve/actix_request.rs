//! [`ActixRequest`]: an actix-web request as the resolver reads it, borrowed, not copied.

use std::net::IpAddr;
use std::ops::ControlFlow;

use actix_web::http::header::{HeaderName, HeaderValue, FORWARDED, HOST, X_FORWARDED_HOST};
use actix_web::HttpRequest;
use tenantpool_resolve::{RepeatedHeader, RequestView};

/// An actix-web [`HttpRequest`] seen through [`RequestView`]: headers are read from actix's
/// own header map (http 0.2) in place.
///
/// actix's header map parses a `&str` name into a `HeaderName` on every lookup, allocating
/// for a non-standard one; [`tenant_header`](Self::tenant_header) hands it the tenant
/// header's name parsed once ([`ResolveTenant`](crate::ResolveTenant) does), and the
/// standard names (`host`, `forwarded`, `x-forwarded-host`) are constants.
///
/// ```
/// use actix_web::test::TestRequest;
/// use tenantpool_actix::resolve::{ActixRequest, Resolver};
///
/// let resolver = Resolver::builder().header("X-Tenant-Id").build()?;
/// let req = TestRequest::default().insert_header(("X-Tenant-Id", "acme")).to_http_request();
/// let found = resolver.resolve(&ActixRequest::new(&req))?;
/// assert_eq!(found.map(|r| r.tenant.to_string()), Some("acme".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ActixRequest<'a> {
    req: &'a HttpRequest,
    tenant_header: Option<&'a HeaderName>,
}

impl<'a> ActixRequest<'a> {
    /// The view of `req`.
    ///
    /// ```
    /// let req = actix_web::test::TestRequest::default().to_http_request();
    /// let view = tenantpool_actix::resolve::ActixRequest::new(&req);
    /// ```
    pub fn new(req: &'a HttpRequest) -> Self {
        Self {
            req,
            tenant_header: None,
        }
    }

    /// Looks the tenant header up by `name`, parsed once, instead of by its text.
    ///
    /// ```
    /// use actix_web::http::header::HeaderName;
    /// let name = HeaderName::from_static("x-tenant-id");
    /// let req = actix_web::test::TestRequest::default().to_http_request();
    /// let view = tenantpool_actix::resolve::ActixRequest::new(&req).tenant_header(Some(&name));
    /// ```
    pub fn tenant_header(mut self, name: Option<&'a HeaderName>) -> Self {
        self.tenant_header = name;
        self
    }
}

impl<'a> ActixRequest<'a> {
    /// The values of header `name`, found without parsing the name when it is a known one.
    fn lookup(&self, name: &str) -> std::slice::Iter<'a, HeaderValue> {
        let headers = self.req.headers();
        match (name, self.tenant_header) {
            ("host", _) => headers.get_all(HOST),
            ("forwarded", _) => headers.get_all(FORWARDED),
            ("x-forwarded-host", _) => headers.get_all(X_FORWARDED_HOST),
            (_, Some(tenant)) if tenant.as_str() == name => headers.get_all(tenant),
            _ => headers.get_all(name),
        }
    }
}

impl RequestView for ActixRequest<'_> {
    fn method(&self) -> &str {
        self.req.method().as_str()
    }

    fn path(&self) -> &str {
        self.req.path()
    }

    fn query(&self) -> Option<&str> {
        self.req.uri().query()
    }

    fn authority(&self) -> Option<&str> {
        self.req.uri().authority().map(|a| a.as_str())
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.req.peer_addr().map(|a| a.ip())
    }

    fn header_values<'v>(&'v self, name: &str, each: &mut dyn FnMut(&'v [u8]) -> ControlFlow<()>) {
        for value in self.lookup(name) {
            if each(value.as_bytes()).is_break() {
                return;
            }
        }
    }

    fn single_header(&self, name: &str) -> Result<Option<&[u8]>, RepeatedHeader> {
        let mut values = self.lookup(name);
        match (values.next(), values.next()) {
            (first, None) => Ok(first.map(|v| v.as_bytes())),
            (_, Some(_)) => Err(RepeatedHeader),
        }
    }
}
