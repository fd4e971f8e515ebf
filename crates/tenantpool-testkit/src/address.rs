//! Test server URLs: read from the environment, split into the parts the handles need, and
//! shown with their password masked.

use crate::error::Error;

/// A server's base URL (`scheme://user[:password]@host:port`, no database) and its parts.
#[derive(Clone)]
pub(crate) struct ServerUrl {
    base: String,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    host_port: String,
    port: u16,
}

impl ServerUrl {
    /// The URL in `variable`, or `default` when it is unset or empty.
    pub(crate) fn from_env(variable: &str, default: &str) -> String {
        std::env::var(variable)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    pub(crate) fn parse(raw: &str, default_port: u16) -> Result<Self, Error> {
        let base = raw.trim_end_matches('/').to_string();
        let invalid = |reason: &str| Error::Url {
            url: mask(&base),
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
pub(crate) fn mask(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
