//! [`ActixRequest`]: an actix-web request as the resolver reads it, borrowed, not copied.

use std::net::IpAddr;
use std::ops::ControlFlow;

use actix_web::HttpRequest;
use tenantpool_resolve::RequestView;

/// An actix-web [`HttpRequest`] seen through [`RequestView`]: headers are read from actix's
/// own header map (http 0.2) in place.
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
}

impl<'a> ActixRequest<'a> {
    /// The view of `req`.
    ///
    /// ```
    /// let req = actix_web::test::TestRequest::default().to_http_request();
    /// let view = tenantpool_actix::resolve::ActixRequest::new(&req);
    /// ```
    pub fn new(req: &'a HttpRequest) -> Self {
        Self { req }
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
        for value in self.req.headers().get_all(name) {
            if each(value.as_bytes()).is_break() {
                return;
            }
        }
    }
}
