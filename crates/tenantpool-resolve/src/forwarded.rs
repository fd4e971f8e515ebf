//! The `Forwarded` header (RFC 7239) and `X-Forwarded-Host`, read only from trusted proxies.
//!
//! Both headers are lists that grow by one entry per proxy hop. The last entry is the one our
//! direct peer (the trusted proxy) wrote; entries before it came from further away, possibly
//! from the client itself, so only the last one is used.

/// Why a forwarding header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadForwarded {
    /// Not a list of `name=value` pairs as RFC 7239 defines them.
    Syntax,
    /// The last element names `host` twice.
    RepeatedHost,
}

/// The `host=` of the last element of the `Forwarded` header lines, in order.
///
/// `Ok(None)`: no non-empty element, or the last one has no `host`.
pub(crate) fn forwarded_host<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<String>, BadForwarded> {
    let mut last: Option<Vec<(String, String)>> = None;
    for line in lines {
        for element in parse_elements(line)? {
            if !element.is_empty() {
                last = Some(element);
            }
        }
    }
    let Some(element) = last else {
        return Ok(None);
    };
    let mut hosts = element.into_iter().filter(|(name, _)| name == "host");
    let host = hosts.next().map(|(_, value)| value);
    if hosts.next().is_some() {
        return Err(BadForwarded::RepeatedHost);
    }
    Ok(host)
}

/// The last entry of the `X-Forwarded-Host` header lines, in order.
pub(crate) fn x_forwarded_host<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<String>, BadForwarded> {
    let mut last = None;
    for line in lines {
        let text = std::str::from_utf8(line).map_err(|_| BadForwarded::Syntax)?;
        for entry in text.split(',') {
            let entry = entry.trim_matches([' ', '\t']);
            if !entry.is_empty() {
                last = Some(entry.to_string());
            }
        }
    }
    Ok(last)
}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits one header line into elements of (lower-case name, value) pairs.
fn parse_elements(line: &[u8]) -> Result<Vec<Vec<(String, String)>>, BadForwarded> {
    let mut elements = vec![Vec::new()];
    let mut i = 0;
    let at = |i: usize| line.get(i).copied();
    while i < line.len() {
        match at(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b',') => {
                elements.push(Vec::new());
                i += 1;
            }
            Some(b';') => i += 1,
            Some(_) => {
                let start = i;
                while at(i).is_some_and(is_tchar) {
                    i += 1;
                }
                let name = line.get(start..i).ok_or(BadForwarded::Syntax)?;
                if name.is_empty() || at(i) != Some(b'=') {
                    return Err(BadForwarded::Syntax);
                }
                i += 1;
                let value = if at(i) == Some(b'"') {
                    i += 1;
                    let mut value = Vec::new();
                    loop {
                        match at(i) {
                            None => return Err(BadForwarded::Syntax),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let escaped = at(i + 1).ok_or(BadForwarded::Syntax)?;
                                value.push(escaped);
                                i += 2;
                            }
                            Some(b) => {
                                value.push(b);
                                i += 1;
                            }
                        }
                    }
                    value
                } else {
                    let start = i;
                    while at(i).is_some_and(is_tchar) {
                        i += 1;
                    }
                    let token = line.get(start..i).ok_or(BadForwarded::Syntax)?;
                    if token.is_empty() {
                        return Err(BadForwarded::Syntax);
                    }
                    token.to_vec()
                };
                if !matches!(at(i), None | Some(b';' | b',' | b' ' | b'\t')) {
                    return Err(BadForwarded::Syntax);
                }
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                let value = String::from_utf8(value).map_err(|_| BadForwarded::Syntax)?;
                if let Some(element) = elements.last_mut() {
                    element.push((name, value));
                }
            }
            None => break,
        }
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(lines: &[&str]) -> Result<Option<String>, BadForwarded> {
        forwarded_host(lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn takes_the_host_of_the_last_element() {
        assert_eq!(
            host(&["host=acme.example.com"]),
            Ok(Some("acme.example.com".into()))
        );
        assert_eq!(
            host(&["for=192.0.2.60;proto=http;host=evil.com, for=10.0.0.1;Host=\"acme.example.com:8080\""]),
            Ok(Some("acme.example.com:8080".into()))
        );
        assert_eq!(
            host(&["host=evil.com", "for=10.0.0.1;host=acme.example.com"]),
            Ok(Some("acme.example.com".into()))
        );
        assert_eq!(host(&["host=evil.com, for=10.0.0.1"]), Ok(None));
        assert_eq!(host(&["host=a.com,"]), Ok(Some("a.com".into())));
        assert_eq!(host(&[""]), Ok(None));
    }

    #[test]
    fn refuses_malformed_lists() {
        for bad in [
            "host",
            "host=",
            "=a",
            "host=\"unterminated",
            "host=a b",
            "host=a\"b\"",
            "host=\"a\\",
            "h@st=a",
        ] {
            assert!(host(&[bad]).is_err(), "{bad:?} accepted");
        }
        assert_eq!(host(&["host"]), Err(BadForwarded::Syntax));
        assert_eq!(host(&["host=a;host=b"]), Err(BadForwarded::RepeatedHost));
    }

    #[test]
    fn x_forwarded_host_takes_the_last_entry() {
        let last = |lines: &[&str]| x_forwarded_host(lines.iter().map(|l| l.as_bytes()));
        assert_eq!(
            last(&["evil.com, acme.example.com"]),
            Ok(Some("acme.example.com".into()))
        );
        assert_eq!(
            last(&["evil.com", "globex.example.com "]),
            Ok(Some("globex.example.com".into()))
        );
        assert_eq!(last(&[" , "]), Ok(None));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"host=\";,\\ \ta.:\xff\0";
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 32) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 8 * 8)) as usize + i) % alphabet.len()])
                .collect();
            let _ = forwarded_host(std::iter::once(bytes.as_slice()));
            let _ = x_forwarded_host(std::iter::once(bytes.as_slice()));
        }
    }
}
