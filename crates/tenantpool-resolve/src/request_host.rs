//! Which host a request is for: the URI's authority or its `Host` header, or what a trusted
//! proxy says in `Forwarded` / `X-Forwarded-Host`.
//!
//! The host-based sources (subdomain, custom domain) and [`Resolver::host`] share this rule,
//! so that a forwarded host is believed in exactly one place.
//!
//! [`Resolver::host`]: crate::Resolver::host

use std::net::IpAddr;

use std::ops::ControlFlow;

use ipnet::IpNet;

use crate::error::ResolveError;
use crate::forwarded;
use crate::host::{Host, HostRef, InvalidHost};
use crate::request::RequestView;

/// The host `req` is for; `trusted` are the peers whose forwarding headers are believed.
/// `Ok(None)`: no host at all (an HTTP/1.0 request without `Host`).
pub(crate) fn request_host<R: RequestView + ?Sized>(
    req: &R,
    trusted: &[IpNet],
) -> Result<Option<Host>, ResolveError> {
    Ok(request_host_ref(req, trusted)?.map(HostRef::into_owned))
}

/// [`request_host`], borrowing the name from the request where it can.
fn request_host_ref<'a, R: RequestView + ?Sized>(
    req: &'a R,
    trusted: &[IpNet],
) -> Result<Option<HostRef<'a>>, ResolveError> {
    // No trusted proxy is the common case: the peer address is not even asked for.
    if !trusted.is_empty() && is_trusted(trusted, req.peer_ip()) {
        if let Some(host) = forwarded_host(req)? {
            return Ok(Some(host));
        }
    }
    if let Some(authority) = req.authority() {
        return parse_host(authority, "the request URI").map(Some);
    }
    let Some(value) = req
        .single_header("host")
        .map_err(|_| ResolveError::RepeatedHeader {
            header: "Host".into(),
        })?
    else {
        return Ok(None);
    };
    let raw = std::str::from_utf8(value).map_err(|_| ResolveError::InvalidHost {
        origin: "Host",
        reason: InvalidHost::ForbiddenCharacter,
    })?;
    parse_host(raw, "Host").map(Some)
}

/// The host a trusted proxy forwarded: `Forwarded: host=` first, then `X-Forwarded-Host`.
fn forwarded_host<R: RequestView + ?Sized>(
    req: &R,
) -> Result<Option<HostRef<'static>>, ResolveError> {
    let forwarded = forwarded::forwarded_host(all_values(req, "forwarded")).map_err(|_| {
        ResolveError::InvalidForwarded {
            header: "Forwarded",
        }
    })?;
    if let Some(raw) = forwarded {
        return parse_host(&raw, "Forwarded").map(|host| Some(host.into_static()));
    }
    let x_forwarded =
        forwarded::x_forwarded_host(all_values(req, "x-forwarded-host")).map_err(|_| {
            ResolveError::InvalidForwarded {
                header: "X-Forwarded-Host",
            }
        })?;
    match x_forwarded {
        Some(raw) => parse_host(&raw, "X-Forwarded-Host").map(|host| Some(host.into_static())),
        None => Ok(None),
    }
}

/// Every value of a forwarding header; only read from trusted proxies, so the allocation is
/// off the common path.
fn all_values<'a, R: RequestView + ?Sized>(
    req: &'a R,
    name: &str,
) -> impl Iterator<Item = &'a [u8]> {
    let mut values = Vec::new();
    req.header_values(name, &mut |value| {
        values.push(value);
        ControlFlow::Continue(())
    });
    values.into_iter()
}

fn is_trusted(trusted: &[IpNet], peer: Option<IpAddr>) -> bool {
    let Some(ip) = peer else {
        return false;
    };
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

fn parse_host<'a>(raw: &'a str, origin: &'static str) -> Result<HostRef<'a>, ResolveError> {
    HostRef::parse(raw).map_err(|reason| ResolveError::InvalidHost { origin, reason })
}

/// The host of one request, read at most once, and only when a host-based source asks.
pub(crate) struct HostOnce<'a, R: ?Sized> {
    req: &'a R,
    trusted: &'a [IpNet],
    host: Option<Option<HostRef<'a>>>,
}

impl<'a, R: RequestView + ?Sized> HostOnce<'a, R> {
    /// Nothing is read yet.
    pub(crate) fn new(req: &'a R, trusted: &'a [IpNet]) -> Self {
        Self {
            req,
            trusted,
            host: None,
        }
    }

    /// The request's host, as [`request_host`] finds it.
    pub(crate) fn get(&mut self) -> Result<Option<&HostRef<'a>>, ResolveError> {
        if self.host.is_none() {
            self.host = Some(request_host_ref(self.req, self.trusted)?);
        }
        Ok(self.host.as_ref().and_then(Option::as_ref))
    }
}
