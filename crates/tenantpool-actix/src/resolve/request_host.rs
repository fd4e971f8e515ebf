//! Which host a request is for: the URI's authority or its `Host` header, or what a trusted
//! proxy says in `Forwarded` / `X-Forwarded-Host`.
//!
//! The host-based sources (subdomain, custom domain) and [`Resolver::host`] share this rule,
//! so that a forwarded host is believed in exactly one place.
//!
//! [`Resolver::host`]: crate::resolve::Resolver::host

use std::net::IpAddr;

use actix_web::http::header::HOST;
use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::resolve::error::ResolveError;
use crate::resolve::forwarded;
use crate::resolve::host::{Host, InvalidHost};

/// The host `req` is for; `trusted` are the peers whose forwarding headers are believed.
/// `Ok(None)`: no host at all (an HTTP/1.0 request without `Host`).
pub(crate) fn request_host(
    req: &HttpRequest,
    trusted: &[IpNet],
) -> Result<Option<Host>, ResolveError> {
    if is_trusted(trusted, req.peer_addr().map(|a| a.ip())) {
        if let Some(host) = forwarded_host(req)? {
            return Ok(Some(host));
        }
    }
    if let Some(authority) = req.uri().authority() {
        return parse_host(authority.as_str(), "the request URI").map(Some);
    }
    let mut hosts = req.headers().get_all(HOST);
    let Some(value) = hosts.next() else {
        return Ok(None);
    };
    if hosts.next().is_some() {
        return Err(ResolveError::RepeatedHeader {
            header: "Host".into(),
        });
    }
    let raw = std::str::from_utf8(value.as_bytes()).map_err(|_| ResolveError::InvalidHost {
        origin: "Host",
        reason: InvalidHost::ForbiddenCharacter,
    })?;
    parse_host(raw, "Host").map(Some)
}

/// The host a trusted proxy forwarded: `Forwarded: host=` first, then `X-Forwarded-Host`.
fn forwarded_host(req: &HttpRequest) -> Result<Option<Host>, ResolveError> {
    let headers = req.headers();
    let forwarded = forwarded::forwarded_host(headers.get_all("forwarded").map(|v| v.as_bytes()))
        .map_err(|_| ResolveError::InvalidForwarded {
        header: "Forwarded",
    })?;
    if let Some(raw) = forwarded {
        return parse_host(&raw, "Forwarded").map(Some);
    }
    let x_forwarded =
        forwarded::x_forwarded_host(headers.get_all("x-forwarded-host").map(|v| v.as_bytes()))
            .map_err(|_| ResolveError::InvalidForwarded {
                header: "X-Forwarded-Host",
            })?;
    match x_forwarded {
        Some(raw) => parse_host(&raw, "X-Forwarded-Host").map(Some),
        None => Ok(None),
    }
}

fn is_trusted(trusted: &[IpNet], peer: Option<IpAddr>) -> bool {
    let Some(ip) = peer else {
        return false;
    };
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

fn parse_host(raw: &str, origin: &'static str) -> Result<Host, ResolveError> {
    Host::parse(raw).map_err(|reason| ResolveError::InvalidHost { origin, reason })
}

/// The host of one request, read at most once, and only when a host-based source asks.
pub(crate) struct HostOnce<'a> {
    req: &'a HttpRequest,
    trusted: &'a [IpNet],
    host: Option<Option<Host>>,
}

impl<'a> HostOnce<'a> {
    /// Nothing is read yet.
    pub(crate) fn new(req: &'a HttpRequest, trusted: &'a [IpNet]) -> Self {
        Self {
            req,
            trusted,
            host: None,
        }
    }

    /// The request's host, as [`request_host`] finds it.
    pub(crate) fn get(&mut self) -> Result<Option<&Host>, ResolveError> {
        if self.host.is_none() {
            self.host = Some(request_host(self.req, self.trusted)?);
        }
        Ok(self.host.as_ref().and_then(Option::as_ref))
    }
}
