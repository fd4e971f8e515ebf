//! Tenant resolution: which tenant a request is for.
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

mod builder;
mod config;
mod error;
mod forwarded;
mod host;
mod request_host;
mod resolved;
mod resolver;
mod source;

pub use self::builder::ResolverBuilder;
pub use self::config::ResolveConfig;
pub use self::error::ResolveError;
pub use self::host::{Host, HostName, InvalidHost};
pub use self::resolved::{Resolved, ResolvedBy};
pub use self::resolver::Resolver;
