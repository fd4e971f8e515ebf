//! # tenantpool-resolve
//!
//! Which tenant a request is for, and what to answer when that fails, with no web framework
//! in sight: the actix-web adapter (`tenantpool-actix`) and the axum adapter
//! (`tenantpool-axum`) share every rule here, and each implements [`RequestView`] on a
//! wrapper of references to its own request (actix-web 4 is on http 0.2, axum 0.8 on http 1),
//! so headers are read in place, never copied.
//!
//! A [`Resolver`] asks an ordered chain of sources; the first that finds a tenant wins:
//!
//! | source | example | configured by |
//! | --- | --- | --- |
//! | subdomain of a base domain | `acme.example.com` → `acme` | `base_domains`, `reserved` |
//! | custom domain map | `notes.acme-corp.com` → `acme` | `[resolve.domains]` |
//! | header | `X-Tenant-Id: acme` | `header` |
//! | path prefix | `/t/acme/notes` → `acme`, routed as `/notes` | `path_prefix`, `strip_path_prefix` |
//! | your closure | a claim of a session cookie | [`ResolverBuilder::custom`] |
//!
//! Each source answers "found", "not here" (the next source is asked) or "malformed" (the
//! request is refused with 400 and no further source is asked). A subdomain that is a
//! reserved name (`www`, `api`), the bare base domain, an IP address and a foreign host are
//! "not here"; a nested subdomain (`a.b.example.com`), a punycode label (`xn--…`, which a
//! browser could display as a look-alike of a real tenant) or an invalid key are "malformed".
//!
//! The host is the request's `Host` (or, for HTTP/2 and absolute-form requests, the URI's
//! authority). `Forwarded: host=` and `X-Forwarded-Host` replace it only when the TCP peer is
//! a configured trusted proxy (an IP or CIDR), and then only their last entry, the one that
//! proxy wrote, is read.

//!
//! One concept per file:
//!
//! | file | holds |
//! | --- | --- |
//! | `config.rs` | [`ResolveConfig`], the `[resolve]` section |
//! | `builder.rs` | [`ResolverBuilder`], which validates every setting |
//! | `resolver.rs` | [`Resolver`], which asks the chain |
//! | `source.rs` | the sources, and how each finds a tenant |
//! | `request_host.rs` | which host a request is for, after the trusted-proxy rule |
//! | `host.rs`, `forwarded.rs` | strict parsers of `Host` and of the forwarding headers |
//! | `resolved.rs`, `error.rs` | the outcome: [`Resolved`] / [`ResolvedBy`], or [`ResolveError`] |
//! | `request.rs`, `owned_request.rs` | [`RequestView`], the borrowed request; [`OwnedRequest`] |
//! | `error_body.rs`, `error_reply.rs` | [`ErrorBody`], and the status/body/`Retry-After` of each failure |
//! | `admin_guard.rs` | [`AdminConfig`], [`AdminGuard`]: the admin endpoints' bearer token |
//! | `readiness_reply.rs` | [`ReadinessChecks`], [`ReadinessReply`]: the readiness endpoint's registries and answer |
//! | `admin_stats.rs` | [`AdminStats`], [`StatsReply`]: the admin stats endpoint's answer (`?tenant=`) |
//! | `role.rs` | [`Role`], [`Primary`], [`Replica`], [`role!`]: which registry a route's connections come from |
//! | `setup_error.rs` | [`SetupError`], a configuration refused at startup |
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod admin_guard;
#[cfg(feature = "metrics")]
mod admin_metrics;
mod admin_stats;
mod builder;
mod config;
mod error;
mod error_body;
mod error_reply;
mod forwarded;
mod host;
mod owned_request;
mod readiness_reply;
mod request;
mod request_host;
mod resolved;
mod resolver;
mod role;
mod setup_error;
mod source;

pub use crate::admin_guard::{AdminConfig, AdminGuard};
#[cfg(feature = "metrics")]
pub use crate::admin_metrics::{
    AdminMetrics, CONTENT_TYPE as METRICS_CONTENT_TYPE, SECONDS_BUCKETS, STALE_GAUGES_AFTER,
};
pub use crate::admin_stats::{AdminStats, StatsReply};
pub use crate::error_body::ErrorBody;
pub use crate::error_reply::{public_message, query_message, retry_after_secs, ErrorReply};
pub use crate::owned_request::OwnedRequest;
pub use crate::readiness_reply::{ReadinessChecks, ReadinessReply};
pub use crate::request::{HeaderValue, Headers, NotVisibleAscii, RepeatedHeader, RequestView};
pub use crate::role::{Primary, Replica, Role};
pub use crate::setup_error::SetupError;

pub use crate::builder::ResolverBuilder;
pub use crate::config::ResolveConfig;
pub use crate::error::ResolveError;
pub use crate::host::{Host, HostName, InvalidHost};
pub use crate::resolved::{Resolved, ResolvedBy};
pub use crate::resolver::Resolver;
