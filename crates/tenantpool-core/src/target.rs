//! Database targets: where a tenant's connections go, and who else goes there.
//!
//! A [`DatabaseUrl`] is the identity of a pool: two tenants whose URLs are equal (credentials
//! included) share one pool. Its [`ServerKey`] (`scheme://host:port`) is the identity of a
//! connection budget: every pool on one server draws from the same budget. The URL carries a
//! password, so it never prints one: `Display` and `Debug` mask it, and only
//! [`DatabaseUrl::expose_secret`] hands the raw string to a driver.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::backend_kind::BackendKind;
use crate::tls::TlsOptions;

/// A database URL that never prints its password.
///
/// Equality and hashing use the whole URL, credentials included, so that tenants with
/// different credentials never share a pool. `Display` and `Debug` show the URL with the
/// password replaced by `***`.
///
/// ```
/// use tenantpool_core::DatabaseUrl;
///
/// let url = DatabaseUrl::parse("postgres://app:s3cret@db.internal:5432/tenant_acme")?;
/// assert_eq!(url.to_string(), "postgres://app:***@db.internal:5432/tenant_acme");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// assert_eq!(url.server().as_str(), "postgres://db.internal:5432");
/// assert_eq!(url.database(), Some("tenant_acme"));
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct DatabaseUrl(Arc<UrlParts>);

struct UrlParts {
    raw: String,
    /// `raw` without the TLS keys, which the driver does not know.
    driver: String,
    tls: TlsOptions,
    masked: String,
    kind: BackendKind,
    server: ServerKey,
    password: Option<String>,
    database: Option<String>,
}

impl DatabaseUrl {
    /// Parses a `postgres://`, `mysql://` or `sqlite:` URL.
    ///
    /// SQLite URLs name a file: `sqlite://data/acme.db` and `sqlite:data/acme.db` are the
    /// same relative path. All SQLite files share the server key `sqlite://local`.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("sqlite://data/acme.db")?;
    /// assert_eq!(url.database(), Some("data/acme.db"));
    /// assert!(DatabaseUrl::parse("redis://localhost").is_err());
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn parse(raw: &str) -> Result<Self, crate::ConfigError> {
        let invalid = |reason: &str| crate::ConfigError::InvalidUrl {
            url: mask_unparsed(raw),
            reason: reason.to_string(),
        };
        let scheme = raw
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if scheme == "sqlite" {
            let path = raw["sqlite:".len()..].trim_start_matches("//");
            if path.is_empty() {
                return Err(invalid("a sqlite URL needs a file path"));
            }
            if path.contains('\0') {
                return Err(invalid("the path contains a NUL byte"));
            }
            return Ok(Self(Arc::new(UrlParts {
                raw: format!("sqlite://{path}"),
                driver: format!("sqlite://{path}"),
                tls: TlsOptions::take_from(BackendKind::Sqlite, Vec::new(), |r| invalid(&r))?.0,
                masked: format!("sqlite://{path}"),
                kind: BackendKind::Sqlite,
                server: ServerKey(Arc::from("sqlite://local")),
                password: None,
                database: Some(path.to_string()),
            })));
        }
        let kind = match scheme.as_str() {
            "postgres" | "postgresql" => BackendKind::Postgres,
            "mysql" | "mariadb" => BackendKind::Mysql,
            "" => return Err(invalid("missing scheme")),
            _ => {
                return Err(invalid(
                    "unsupported scheme; use postgres://, mysql:// or sqlite:",
                ))
            }
        };
        let mut parsed = url::Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("missing host"))?
            .to_ascii_lowercase();
        let port = parsed.port().unwrap_or(match kind {
            BackendKind::Postgres => 5432,
            _ => 3306,
        });
        if kind == BackendKind::Mysql && scheme == "mariadb" {
            // mysql_async only understands mysql://; the two are the same protocol.
            parsed
                .set_scheme("mysql")
                .map_err(|()| invalid("cannot normalise the scheme"))?;
        }
        let password = parsed
            .password()
            .map(|p| {
                url::form_urlencoded::parse(format!("p={p}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| p.to_string())
            })
            .filter(|p| !p.is_empty());
        let database = parsed
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let raw = parsed.to_string();
        let query: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let (tls, rest) = TlsOptions::take_from(kind, query, |r| invalid(&r))?;
        let mut driver = parsed.clone();
        driver.set_query(None);
        if !rest.is_empty() {
            driver.query_pairs_mut().extend_pairs(rest);
        }
        let driver = driver.to_string();
        let mut masked = parsed.clone();
        if masked.password().is_some() {
            // Cannot fail: the URL has a host, so it can carry credentials.
            let _ = masked.set_password(Some("***"));
        }
        let masked = masked.to_string().replace("%2A%2A%2A", "***");
        Ok(Self(Arc::new(UrlParts {
            raw,
            driver,
            tls,
            masked,
            kind,
            server: ServerKey(Arc::from(format!("{}://{host}:{port}", kind_scheme(kind)))),
            password,
            database,
        })))
    }

    /// The URL with its password, for handing to a driver. Never log it.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("postgres://app:pw@localhost/db")?;
    /// assert!(url.expose_secret().contains("pw"));
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.0.raw
    }

    /// The URL as its driver takes it: with its password, without the TLS keys (which
    /// [`tls`](Self::tls) holds). Never log it.
    pub(crate) fn driver_url(&self) -> &str {
        &self.0.driver
    }

    /// The URL's TLS settings (see [`crate::tls`]).
    ///
    /// ```
    /// use tenantpool_core::tls::TlsMode;
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("postgres://app@db/acme?sslmode=require")?;
    /// assert_eq!(url.tls().mode, TlsMode::Require);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn tls(&self) -> &TlsOptions {
        &self.0.tls
    }

    /// The backend the URL names.
    ///
    /// ```
    /// use tenantpool_core::{BackendKind, DatabaseUrl};
    /// assert_eq!(DatabaseUrl::parse("postgresql://h/db")?.kind(), BackendKind::Postgres);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn kind(&self) -> BackendKind {
        self.0.kind
    }

    /// The server the URL points at: the key of its connection budget.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let a = DatabaseUrl::parse("postgres://a@LOCALHOST/one")?;
    /// let b = DatabaseUrl::parse("postgres://b@localhost:5432/two")?;
    /// assert_eq!(a.server(), b.server());
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn server(&self) -> &ServerKey {
        &self.0.server
    }

    /// The database name (for SQLite, the file path), if the URL names one.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// assert_eq!(DatabaseUrl::parse("mysql://root@h:3306/shop")?.database(), Some("shop"));
    /// assert_eq!(DatabaseUrl::parse("mysql://root@h:3306")?.database(), None);
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn database(&self) -> Option<&str> {
        self.0.database.as_deref()
    }

    /// Replaces every occurrence of this URL's password in `text` by `***`.
    ///
    /// Driver error messages are passed through this before they reach an error value or a
    /// log line, as a second line of defence.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("postgres://app:hunter2@localhost/db")?;
    /// assert_eq!(url.redact("auth failed for hunter2"), "auth failed for ***");
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.0.raw, &self.0.masked);
        if let Some(password) = &self.0.password {
            out = out.replace(password.as_str(), "***");
        }
        out
    }
}

fn kind_scheme(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "postgres",
        BackendKind::Mysql => "mysql",
        BackendKind::Sqlite => "sqlite",
    }
}

/// Masks whatever looks like `user:password@` in a string that did not parse as a URL.
pub(crate) fn mask_unparsed(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &raw[start + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &raw[..start + 3],
                    &userinfo[..colon],
                    &raw[at..]
                ),
                None => raw.to_string(),
            }
        }
        _ => raw.to_string(),
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.0.raw == other.0.raw
    }
}

impl Eq for DatabaseUrl {}

impl Hash for DatabaseUrl {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.raw.hash(state);
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.masked)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.0.masked)
    }
}

impl serde::Serialize for DatabaseUrl {
    /// Serialises the masked form: stats and config dumps never carry a password.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.masked)
    }
}

impl<'de> serde::Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A database URL template (`postgres://app:secret@db/tenant_{tenant}`) that never prints
/// its password.
///
/// It is what a [`TemplateConfig`](crate::config::TemplateConfig) holds before it is checked.
/// `Display`, `Debug` and `Serialize` mask the password as [`DatabaseUrl`] does; only
/// [`UrlTemplate::expose_secret`] gives the raw text.
///
/// ```
/// use tenantpool_core::UrlTemplate;
/// let t = UrlTemplate::from("postgres://app:s3cret@db:5432/tenant_{tenant}");
/// assert_eq!(t.to_string(), "postgres://app:***@db:5432/tenant_{tenant}");
/// assert!(!format!("{t:?}").contains("s3cret"));
/// assert!(t.expose_secret().contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// The raw template, password included. Hand it only to code that builds URLs.
    ///
    /// ```
    /// let t = tenantpool_core::UrlTemplate::from("sqlite://data/{tenant}.db");
    /// assert_eq!(t.expose_secret(), "sqlite://data/{tenant}.db");
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for UrlTemplate {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl From<&str> for UrlTemplate {
    fn from(raw: &str) -> Self {
        Self(raw.to_string())
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_unparsed(&self.0))
    }
}

impl fmt::Debug for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlTemplate({:?})", mask_unparsed(&self.0))
    }
}

impl serde::Serialize for UrlTemplate {
    /// Serialises the masked form, like [`DatabaseUrl`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&mask_unparsed(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for UrlTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// One database server (`scheme://host:port`): the unit a connection budget counts.
///
/// ```
/// use tenantpool_core::DatabaseUrl;
/// let url = DatabaseUrl::parse("mysql://root@127.0.0.1/test")?;
/// assert_eq!(url.server().to_string(), "mysql://127.0.0.1:3306");
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ServerKey(pub(crate) Arc<str>);

impl ServerKey {
    /// The key as a string, `scheme://host:port`.
    ///
    /// ```
    /// use tenantpool_core::DatabaseUrl;
    /// let url = DatabaseUrl::parse("postgres://h/db")?;
    /// assert_eq!(url.server().as_str(), "postgres://h:5432");
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey({:?})", &*self.0)
    }
}

/// A schema (PostgreSQL) or database (MySQL) name that is safe to quote into SQL.
///
/// 1 to 63 characters of ASCII letters, digits, `_` and `-`.
///
/// ```
/// use tenantpool_core::SchemaName;
/// assert_eq!(SchemaName::parse("tenant_acme")?.as_str(), "tenant_acme");
/// assert!(SchemaName::parse("x\"; DROP TABLE y; --").is_err());
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SchemaName(Arc<str>);

impl SchemaName {
    /// Validates a schema name.
    ///
    /// ```
    /// use tenantpool_core::SchemaName;
    /// assert!(SchemaName::parse("").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, crate::ConfigError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(Arc::from(raw)))
        } else {
            Err(crate::ConfigError::InvalidSchema {
                schema: raw.escape_debug().to_string(),
            })
        }
    }

    /// The name.
    ///
    /// ```
    /// use tenantpool_core::SchemaName;
    /// assert_eq!(SchemaName::parse("s1")?.as_str(), "s1");
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Pointer identity, for the hot-path "already on this schema?" check.
    pub(crate) fn same(&self, other: &SchemaName) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaName({:?})", &*self.0)
    }
}

/// How a tenant's data is separated from other tenants' data.
///
/// ```
/// use tenantpool_core::{Isolation, SchemaName};
/// let iso = Isolation::Schema(SchemaName::parse("tenant_acme")?);
/// assert!(iso.schema().is_some());
/// assert!(Isolation::Database.schema().is_none());
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// The tenant has a database of its own (the URL names it).
    Database,
    /// The tenant has a schema in a shared database (PostgreSQL `search_path`), or a database
    /// on a shared server (MySQL `USE`). Its pool is shared with every tenant on that URL.
    Schema(SchemaName),
}

impl Isolation {
    /// The schema, in schema mode.
    ///
    /// ```
    /// use tenantpool_core::Isolation;
    /// assert_eq!(Isolation::Database.schema(), None);
    /// ```
    pub fn schema(&self) -> Option<&SchemaName> {
        match self {
            Self::Database => None,
            Self::Schema(s) => Some(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_everywhere() {
        let url =
            DatabaseUrl::parse("postgres://app:p%40ss%3Aword@db:6000/x?sslmode=disable").unwrap();
        let shown = format!("{url} {url:?} {}", serde_json_string(&url));
        assert!(!shown.contains("p%40ss"), "{shown}");
        assert!(!shown.contains("p@ss"), "{shown}");
        assert!(shown.contains("app:***@db:6000/x"), "{shown}");
        assert_eq!(url.redact("bad password p@ss:word"), "bad password ***");
        assert_eq!(url.server().as_str(), "postgres://db:6000");
    }

    #[test]
    fn credentials_are_part_of_identity() {
        let a = DatabaseUrl::parse("postgres://a:1@h/db").unwrap();
        let b = DatabaseUrl::parse("postgres://a:2@h/db").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.server(), b.server());
    }

    #[test]
    fn mariadb_scheme_is_mysql() {
        let url = DatabaseUrl::parse("mariadb://root@127.0.0.1/test").unwrap();
        assert_eq!(url.kind(), BackendKind::Mysql);
        assert!(url.expose_secret().starts_with("mysql://"));
    }

    #[test]
    fn unparsable_urls_do_not_echo_passwords() {
        let err = DatabaseUrl::parse("postgres://u:secret@[bad/db").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    fn serde_json_string(url: &DatabaseUrl) -> String {
        serde_json::to_string(url).unwrap()
    }
}
