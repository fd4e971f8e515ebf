//! Test server URLs: read from the environment, split into the parts the handles need, and
//! shown with their password masked.

use crate::error::Error;

/// A server's base URL (`scheme://user[:password]@host:port`, no database) and its parts.
#[derive(Clone)]
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) struct ServerUrl {
    base: String,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    host_port: String,
    port: u16,
}

#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
impl ServerUrl {
    pub(crate) fn parse(raw: &str, default_port: u16) -> Result<Self, Error> {
        let base = raw.trim_end_matches('/').to_string();
        let invalid = |reason: &str| Error::Url {
            url: mask_password(&base),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(&base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.path(), "" | "/") {
            return Err(invalid("it names a database; give the server only"));
        }
        let host = parsed.host_str().ok_or_else(|| invalid("it has no host"))?;
        let port = parsed.port().unwrap_or(default_port);
        Ok(Self {
            host_port: format!("{host}:{port}"),
            base,
            port,
        })
    }

    /// `scheme://user[:password]@host:port`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `host:port`.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn host_port(&self) -> &str {
        &self.host_port
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

/// `url` with its password, if any, replaced by `***`.
///
/// ```
/// let shown = tenantpool_testkit::mask_password("postgres://app:hunter2@db:5432");
/// assert_eq!(shown, "postgres://app:***@db:5432");
/// ```
pub fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
