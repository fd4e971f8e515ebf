//! TLS settings of a database target, read from its URL with libpq's and MySQL's names.
//!
//! PostgreSQL: `sslmode` = `disable`, `prefer` (the default, as libpq), `require`,
//! `verify-ca`, `verify-full`; `sslrootcert`, `sslcert`, `sslkey`. MySQL/MariaDB: `ssl-mode` =
//! `DISABLED` (the default), `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`;
//! `ssl-ca`, `ssl-cert`, `ssl-key`. The keys are taken out of the URL before it reaches the
//! driver; the rest of the URL is the driver's as before.
//!
//! What each mode checks, as libpq does: `prefer` and `require` encrypt without checking the
//! server's certificate (unless a root file is given, when `require` checks the chain, as
//! `verify-ca`); `verify-ca` checks that the certificate chains to a trusted root;
//! `verify-full` also checks that it names the host the URL names. Without a root file the
//! system's roots are trusted. A client certificate is presented when both its files are
//! given. Only paths are kept here: key material is read when a connection is opened and is
//! never printed.

use std::path::{Path, PathBuf};

use crate::backend_kind::BackendKind;
use crate::ConfigError;

/// How a connection uses TLS (see the module docs for what each mode checks).
///
/// ```
/// use tenantpool_core::tls::TlsMode;
/// use tenantpool_core::DatabaseUrl;
///
/// let url = DatabaseUrl::parse("postgres://app@db.example.com/acme?sslmode=verify-full")?;
/// assert_eq!(url.tls().mode, TlsMode::VerifyFull);
/// assert_eq!(DatabaseUrl::parse("postgres://app@db/acme")?.tls().mode, TlsMode::Prefer);
/// assert_eq!(DatabaseUrl::parse("mysql://app@db/acme")?.tls().mode, TlsMode::Disable);
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain TCP otherwise; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked unless a root file is given.
    Require,
    /// TLS with a certificate that chains to a trusted root.
    VerifyCa,
    /// TLS with a certificate that chains to a trusted root and names the host.
    VerifyFull,
}

impl TlsMode {
    /// Whether the server's certificate chain is checked (with `root`: a root file given).
    ///
    /// ```
    /// use tenantpool_core::tls::TlsMode;
    /// assert!(!TlsMode::Require.verifies_chain(false));
    /// assert!(TlsMode::Require.verifies_chain(true));
    /// assert!(TlsMode::VerifyCa.verifies_chain(false));
    /// ```
    pub fn verifies_chain(self, root: bool) -> bool {
        match self {
            Self::Disable | Self::Prefer => false,
            Self::Require => root,
            Self::VerifyCa | Self::VerifyFull => true,
        }
    }
}

/// The TLS settings of one database URL.
///
/// ```
/// use tenantpool_core::tls::TlsMode;
/// use tenantpool_core::DatabaseUrl;
///
/// let url = DatabaseUrl::parse(
///     "mysql://app@db/acme?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ssl/ca.pem",
/// )?;
/// assert_eq!(url.tls().mode, TlsMode::VerifyFull);
/// assert_eq!(url.tls().root_cert.as_deref(), Some(std::path::Path::new("/etc/ssl/ca.pem")));
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TlsOptions {
    /// How TLS is used.
    pub mode: TlsMode,
    /// PEM file of the roots to trust; the system's roots when absent.
    pub root_cert: Option<PathBuf>,
    /// PEM file of the client certificate (with `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub client_key: Option<PathBuf>,
}

/// The URL keys of one backend: mode, root file, client certificate, client key.
struct Keys {
    mode: &'static str,
    root: &'static str,
    cert: &'static str,
    key: &'static str,
}

const POSTGRES: Keys = Keys {
    mode: "sslmode",
    root: "sslrootcert",
    cert: "sslcert",
    key: "sslkey",
};

const MYSQL: Keys = Keys {
    mode: "ssl-mode",
    root: "ssl-ca",
    cert: "ssl-cert",
    key: "ssl-key",
};

impl TlsOptions {
    /// The default of a backend: `prefer` for PostgreSQL (as libpq), `DISABLED` for MySQL
    /// (mysql_async's), nothing for SQLite.
    fn default_for(kind: BackendKind) -> Self {
        Self {
            mode: match kind {
                BackendKind::Postgres => TlsMode::Prefer,
                BackendKind::Mysql | BackendKind::Sqlite => TlsMode::Disable,
            },
            root_cert: None,
            client_cert: None,
            client_key: None,
        }
    }

    /// Takes the TLS keys of `kind` out of `query` pairs; returns the options and the pairs
    /// left for the driver. `invalid` builds the error for a bad value, naming the key.
    pub(crate) fn take_from(
        kind: BackendKind,
        query: Vec<(String, String)>,
        invalid: impl Fn(String) -> ConfigError,
    ) -> Result<(Self, Vec<(String, String)>), ConfigError> {
        let mut options = Self::default_for(kind);
        let keys = match kind {
            BackendKind::Postgres => POSTGRES,
            BackendKind::Mysql => MYSQL,
            BackendKind::Sqlite => return Ok((options, query)),
        };
        let mut rest = Vec::with_capacity(query.len());
        for (key, value) in query {
            let path = || {
                if value.is_empty() {
                    Err(invalid(format!("{key} is empty")))
                } else {
                    Ok(Some(PathBuf::from(&value)))
                }
            };
            if key == keys.mode {
                options.mode = parse_mode(kind, &value).ok_or_else(|| {
                    invalid(format!(
                        "{key}={value:?} is not a TLS mode ({})",
                        modes(kind)
                    ))
                })?;
            } else if key == keys.root {
                options.root_cert = path()?;
            } else if key == keys.cert {
                options.client_cert = path()?;
            } else if key == keys.key {
                options.client_key = path()?;
            } else {
                rest.push((key, value));
            }
        }
        if options.client_cert.is_some() != options.client_key.is_some() {
            return Err(invalid(format!(
                "{} and {} go together: a client certificate needs its key",
                keys.cert, keys.key
            )));
        }
        Ok((options, rest))
    }

    /// Checks that every file named can be read: a start-up check for configured targets.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("postgres://app@db/acme?sslmode=verify-full&sslrootcert=/nonexistent.pem")?;
    /// let err = url.tls().check_files().unwrap_err();
    /// assert!(err.to_string().contains("/nonexistent.pem"));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for path in [&self.root_cert, &self.client_cert, &self.client_key]
            .into_iter()
            .flatten()
        {
            readable(path)?;
        }
        Ok(())
    }
}

fn readable(path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| ConfigError::Invalid {
            setting: "TLS file",
            reason: format!("cannot read {}: {e}", path.display()),
        })
}

fn parse_mode(kind: BackendKind, value: &str) -> Option<TlsMode> {
    match kind {
        BackendKind::Postgres => match value {
            "disable" => Some(TlsMode::Disable),
            "prefer" => Some(TlsMode::Prefer),
            "require" => Some(TlsMode::Require),
            "verify-ca" => Some(TlsMode::VerifyCa),
            "verify-full" => Some(TlsMode::VerifyFull),
            _ => None,
        },
        _ => match value.to_ascii_uppercase().as_str() {
            "DISABLED" => Some(TlsMode::Disable),
            "PREFERRED" => Some(TlsMode::Prefer),
            "REQUIRED" => Some(TlsMode::Require),
            "VERIFY_CA" => Some(TlsMode::VerifyCa),
            "VERIFY_IDENTITY" => Some(TlsMode::VerifyFull),
            _ => None,
        },
    }
}

fn modes(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "disable, prefer, require, verify-ca or verify-full",
        _ => "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseUrl;

    #[test]
    fn tls_keys_leave_the_driver_url_and_stay_in_the_identity() {
        let url = DatabaseUrl::parse(
            "postgres://app:pw@db/acme?application_name=x&sslmode=verify-ca&sslrootcert=/r.pem",
        )
        .unwrap();
        assert_eq!(url.tls().mode, TlsMode::VerifyCa);
        assert!(!url.driver_url().contains("ssl"), "{}", url.driver_url());
        assert!(url.driver_url().contains("application_name=x"));
        let plain = DatabaseUrl::parse("postgres://app:pw@db/acme?application_name=x").unwrap();
        assert_ne!(url, plain, "different TLS settings must not share a pool");
    }

    #[test]
    fn bad_values_name_the_key_and_never_the_password() {
        let err = DatabaseUrl::parse("postgres://app:hunter2@db/acme?sslmode=verify").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sslmode"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = DatabaseUrl::parse("mysql://app@db/acme?ssl-mode=SOMETIMES").unwrap_err();
        assert!(err.to_string().contains("ssl-mode"), "{err}");
        let err = DatabaseUrl::parse("postgres://app@db/acme?sslcert=/c.pem").unwrap_err();
        assert!(err.to_string().contains("sslkey"), "{err}");
    }

    #[test]
    fn mysql_modes_are_read_in_either_case() {
        for (value, mode) in [
            ("disabled", TlsMode::Disable),
            ("REQUIRED", TlsMode::Require),
            ("Verify_Ca", TlsMode::VerifyCa),
            ("VERIFY_IDENTITY", TlsMode::VerifyFull),
        ] {
            let url = DatabaseUrl::parse(&format!("mysql://root@h/db?ssl-mode={value}")).unwrap();
            assert_eq!(url.tls().mode, mode, "{value}");
        }
    }
}
