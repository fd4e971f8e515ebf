//! Host names as a client (or a trusted proxy) sends them.
//!
//! A `Host` header is attacker-controlled text. It is parsed here once, strictly, before any
//! part of it is compared with a base domain or turned into a tenant key: visible ASCII only,
//! no user info, a numeric port, DNS labels of 1 to 63 letters, digits and inner hyphens, or
//! an IP literal. Everything else is refused with a reason, and nothing here can panic.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest host accepted, port included: a DNS name is at most 253 characters, plus a
/// trailing dot and a port.
const MAX_HOST_LEN: usize = 253 + 1 + 6;
const MAX_LABEL_LEN: usize = 63;

/// A validated host: a lower-case DNS name (without a trailing dot) or an IP address, and an
/// optional port.
///
/// ```
/// use tenantpool_resolve::{Host, HostName};
///
/// let host = Host::parse("Acme.Example.COM.:8080")?;
/// assert_eq!(host.name(), &HostName::Domain("acme.example.com".into()));
/// assert_eq!(host.port(), Some(8080));
///
/// assert!(matches!(Host::parse("[::1]:80")?.name(), HostName::Ip(_)));
/// assert!(Host::parse("acme.example.com@evil.com").is_err());
/// assert!(Host::parse("a..b").is_err());
/// # Ok::<(), tenantpool_resolve::InvalidHost>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: HostName,
    port: Option<u16>,
}

/// The name part of a [`Host`].
///
/// ```
/// use tenantpool_resolve::{Host, HostName};
/// assert!(matches!(Host::parse("127.0.0.1")?.name(), HostName::Ip(_)));
/// # Ok::<(), tenantpool_resolve::InvalidHost>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A DNS name, lower case, without a trailing dot.
    Domain(String),
    /// An IPv4 address, or an IPv6 address written in brackets.
    Ip(IpAddr),
}

/// Why a host was refused. The web adapter answers `400 Bad Request`.
///
/// ```
/// use tenantpool_resolve::{Host, InvalidHost};
/// assert_eq!(Host::parse(""), Err(InvalidHost::Empty));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHost {
    /// No host at all.
    #[error("the host is empty")]
    Empty,
    /// Longer than a DNS name can be.
    #[error("the host is longer than {MAX_HOST_LEN} characters")]
    TooLong,
    /// A byte outside letters, digits, `-` and `.` (for example `@`, `/`, a space, a control
    /// character or non-ASCII text).
    #[error("the host contains a character that is not allowed in a host name")]
    ForbiddenCharacter,
    /// The port is not 1 to 5 digits, or is above 65535.
    #[error("the port is not a number between 0 and 65535")]
    BadPort,
    /// A bracketed IPv6 literal that does not parse, or colons outside brackets.
    #[error("malformed IP literal")]
    BadIpLiteral,
    /// Two dots in a row, or a leading dot.
    #[error("the host has an empty label")]
    EmptyLabel,
    /// A label longer than 63 characters.
    #[error("a label of the host is longer than {MAX_LABEL_LEN} characters")]
    LabelTooLong,
    /// A label that starts or ends with `-`.
    #[error("a label of the host starts or ends with '-'")]
    HyphenAtEdge,
    /// A dotted name ending in a numeric label that is not a valid IPv4 address (`127.1`,
    /// `1.2.3.256`): browsers would read it as an IP address.
    #[error("the host looks like an IP address but is not a valid one")]
    NumericName,
}

impl Host {
    /// Parses a `Host` header value, an `X-Forwarded-Host` value or the `host=` of a
    /// `Forwarded` element.
    ///
    /// ```
    /// use tenantpool_resolve::Host;
    /// assert_eq!(Host::parse("localhost")?.port(), None);
    /// assert!(Host::parse("localhost:99999").is_err());
    /// # Ok::<(), tenantpool_resolve::InvalidHost>(())
    /// ```
    pub fn parse(raw: &str) -> Result<Self, InvalidHost> {
        HostRef::parse(raw).map(HostRef::into_owned)
    }

    /// The name.
    ///
    /// ```
    /// use tenantpool_resolve::Host;
    /// assert_eq!(Host::parse("Example.com")?.domain(), Some("example.com"));
    /// # Ok::<(), tenantpool_resolve::InvalidHost>(())
    /// ```
    pub fn name(&self) -> &HostName {
        &self.name
    }

    /// The DNS name, or `None` for an IP address.
    ///
    /// ```
    /// use tenantpool_resolve::Host;
    /// assert_eq!(Host::parse("10.0.0.1:80")?.domain(), None);
    /// # Ok::<(), tenantpool_resolve::InvalidHost>(())
    /// ```
    pub fn domain(&self) -> Option<&str> {
        match &self.name {
            HostName::Domain(d) => Some(d),
            HostName::Ip(_) => None,
        }
    }

    /// The port, when one was given.
    ///
    /// ```
    /// use tenantpool_resolve::Host;
    /// assert_eq!(Host::parse("acme.localhost:8080")?.port(), Some(8080));
    /// # Ok::<(), tenantpool_resolve::InvalidHost>(())
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            HostName::Domain(d) => f.write_str(d)?,
            HostName::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostName::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// A validated host borrowed from the text it was parsed from: the resolver reads a request's
/// host through it, so that a host already in lower case is never copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRef<'a> {
    name: HostNameRef<'a>,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostNameRef<'a> {
    Domain(Cow<'a, str>),
    Ip(IpAddr),
}

impl<'a> HostRef<'a> {
    /// Parses `raw` with the rules of [`Host::parse`], in one pass over its bytes for a DNS
    /// name: the character check, the label rules, the port separator and the case are all
    /// read on the way.
    pub(crate) fn parse(raw: &'a str) -> Result<Self, InvalidHost> {
        if raw.is_empty() {
            return Err(InvalidHost::Empty);
        }
        if raw.len() > MAX_HOST_LEN {
            return Err(InvalidHost::TooLong);
        }
        let bytes = raw.as_bytes();
        let mut colons = 0usize;
        let mut last_colon = 0usize;
        let mut upper = false;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'[' | b']' => {}
                b'A'..=b'Z' => upper = true,
                b':' => {
                    colons += 1;
                    last_colon = i;
                }
                _ => return Err(InvalidHost::ForbiddenCharacter),
            }
        }
        if bytes[0] == b'[' {
            return Self::parse_ipv6_literal(&raw[1..]);
        }
        let (name, port) = match colons {
            0 => (raw, None),
            1 => (
                &raw[..last_colon],
                Some(parse_port(&raw[last_colon + 1..])?),
            ),
            _ => {
                // The port is checked first, as the last colon separates it.
                parse_port(&raw[last_colon + 1..])?;
                return Err(InvalidHost::BadIpLiteral);
            }
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err(InvalidHost::Empty);
        }
        // An IPv4 address is tried only when the last label is numeric: a DNS name cannot end
        // in one, so every other host skips the address parser.
        if check_labels(name.as_bytes())? {
            return match name.parse::<Ipv4Addr>() {
                Ok(ip) => Ok(Self {
                    name: HostNameRef::Ip(IpAddr::V4(ip)),
                    port,
                }),
                Err(_) => Err(InvalidHost::NumericName),
            };
        }
        // An upper-case letter can only be in the name: a port with one was refused above.
        let name = if upper {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        Ok(Self {
            name: HostNameRef::Domain(name),
            port,
        })
    }

    /// `[v6]` or `[v6]:port`, given what follows the `[`.
    fn parse_ipv6_literal(rest: &'a str) -> Result<Self, InvalidHost> {
        let close = rest.find(']').ok_or(InvalidHost::BadIpLiteral)?;
        let ip: Ipv6Addr = rest[..close]
            .parse()
            .map_err(|_| InvalidHost::BadIpLiteral)?;
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None if after.is_empty() => None,
            None => return Err(InvalidHost::BadIpLiteral),
        };
        Ok(Self {
            name: HostNameRef::Ip(IpAddr::V6(ip)),
            port,
        })
    }

    /// The DNS name (lower case, no trailing dot); `None` for an IP address.
    pub(crate) fn domain(&self) -> Option<&str> {
        match &self.name {
            HostNameRef::Domain(d) => Some(d),
            HostNameRef::Ip(_) => None,
        }
    }

    /// The owned [`Host`].
    pub(crate) fn into_owned(self) -> Host {
        Host {
            name: match self.name {
                HostNameRef::Domain(d) => HostName::Domain(d.into_owned()),
                HostNameRef::Ip(ip) => HostName::Ip(ip),
            },
            port: self.port,
        }
    }

    /// The same host, owning its name (for a host read from a header value parsed into a
    /// string of its own).
    pub(crate) fn into_static(self) -> HostRef<'static> {
        HostRef {
            name: match self.name {
                HostNameRef::Domain(d) => HostNameRef::Domain(Cow::Owned(d.into_owned())),
                HostNameRef::Ip(ip) => HostNameRef::Ip(ip),
            },
            port: self.port,
        }
    }
}

/// Checks the dot-separated labels of `name` (already known to hold only ASCII letters,
/// digits, `-`, `.`, `[` and `]`): each 1 to 63 letters, digits and inner hyphens. The first
/// label at fault gives the error. `Ok(true)`: the last label is all digits.
fn check_labels(name: &[u8]) -> Result<bool, InvalidHost> {
    let mut start = 0;
    let mut digits = true;
    let mut forbidden = false;
    for (i, &b) in name.iter().enumerate() {
        match b {
            b'.' => {
                check_label(&name[start..i], forbidden)?;
                start = i + 1;
                digits = true;
                forbidden = false;
            }
            b'0'..=b'9' => {}
            b'[' | b']' => {
                forbidden = true;
                digits = false;
            }
            _ => digits = false,
        }
    }
    check_label(&name[start..], forbidden)?;
    Ok(digits)
}

fn check_label(label: &[u8], forbidden: bool) -> Result<(), InvalidHost> {
    match (label.first(), label.last()) {
        (None, _) | (_, None) => Err(InvalidHost::EmptyLabel),
        _ if label.len() > MAX_LABEL_LEN => Err(InvalidHost::LabelTooLong),
        _ if forbidden => Err(InvalidHost::ForbiddenCharacter),
        (Some(b'-'), _) | (_, Some(b'-')) => Err(InvalidHost::HyphenAtEdge),
        _ => Ok(()),
    }
}

fn parse_port(raw: &str) -> Result<u16, InvalidHost> {
    if raw.is_empty() || raw.len() > 5 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidHost::BadPort);
    }
    raw.parse().map_err(|_| InvalidHost::BadPort)
}

/// Normalises a configured domain (a base domain or a custom domain): lower case, no trailing
/// dot, no port, not an IP address.
pub(crate) fn configured_domain(raw: &str) -> Result<String, String> {
    let host = Host::parse(raw.trim()).map_err(|e| e.to_string())?;
    if host.port().is_some() {
        return Err("give the domain without a port".into());
    }
    host.domain()
        .map(str::to_string)
        .ok_or_else(|| "an IP address is not a domain".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(raw: &str) -> Option<String> {
        Host::parse(raw)
            .ok()
            .and_then(|h| h.domain().map(str::to_string))
    }

    #[test]
    fn accepts_names_ports_and_ip_literals() {
        assert_eq!(domain("ACME.example.com"), Some("acme.example.com".into()));
        assert_eq!(domain("acme.example.com."), Some("acme.example.com".into()));
        assert_eq!(
            Host::parse("acme.example.com.:443").unwrap().port(),
            Some(443)
        );
        assert_eq!(Host::parse("localhost:0").unwrap().port(), Some(0));
        assert_eq!(Host::parse("h:65535").unwrap().port(), Some(65535));
        for ip in [
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[::ffff:10.0.0.1]",
        ] {
            assert!(
                matches!(Host::parse(ip).unwrap().name(), HostName::Ip(_)),
                "{ip}"
            );
        }
    }

    #[test]
    fn refuses_hostile_hosts() {
        let cases: &[(&str, InvalidHost)] = &[
            ("", InvalidHost::Empty),
            (".", InvalidHost::Empty),
            (":80", InvalidHost::Empty),
            ("acme.example.com@evil.com", InvalidHost::ForbiddenCharacter),
            ("user:pw@acme.example.com", InvalidHost::ForbiddenCharacter),
            ("a..b", InvalidHost::EmptyLabel),
            ("..", InvalidHost::EmptyLabel),
            (".acme.com", InvalidHost::EmptyLabel),
            ("acme.com..", InvalidHost::EmptyLabel),
            ("acme\0.com", InvalidHost::ForbiddenCharacter),
            ("acme\r\n.com", InvalidHost::ForbiddenCharacter),
            ("acme .com", InvalidHost::ForbiddenCharacter),
            ("аcme.example.com", InvalidHost::ForbiddenCharacter),
            ("acme_corp.example.com", InvalidHost::ForbiddenCharacter),
            ("acme.example.com/evil", InvalidHost::ForbiddenCharacter),
            ("acme.example.com:", InvalidHost::BadPort),
            ("acme.example.com:65536", InvalidHost::BadPort),
            ("acme.example.com:+80", InvalidHost::ForbiddenCharacter),
            ("acme.example.com:080000", InvalidHost::BadPort),
            ("acme.example.com:8o", InvalidHost::BadPort),
            ("acme.example.com:80:80", InvalidHost::BadIpLiteral),
            ("::1", InvalidHost::BadIpLiteral),
            ("[::1", InvalidHost::BadIpLiteral),
            ("[::1]x", InvalidHost::BadIpLiteral),
            ("[fe80::1%eth0]", InvalidHost::ForbiddenCharacter),
            ("[v1.x]", InvalidHost::BadIpLiteral),
            ("a]b", InvalidHost::ForbiddenCharacter),
            ("-acme.example.com", InvalidHost::HyphenAtEdge),
            ("127.1", InvalidHost::NumericName),
            ("1.2.3.256", InvalidHost::NumericName),
        ];
        for (raw, want) in cases {
            assert_eq!(Host::parse(raw).as_ref(), Err(want), "{raw:?}");
        }
        assert_eq!(
            Host::parse(&format!("{}.example.com", "a".repeat(64))),
            Err(InvalidHost::LabelTooLong)
        );
        assert_eq!(
            Host::parse(&vec!["a".repeat(60); 6].join(".")),
            Err(InvalidHost::TooLong)
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A small deterministic generator: no external crate, reproducible failures.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"aZ09-.:[]@%/\\ \0\x7f\xff_";
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = Host::parse(&text);
        }
    }
}
