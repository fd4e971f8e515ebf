//! Tenant keys.
//!
//! Every path from a request to a database goes through a [`TenantId`]: it is the cache key,
//! the value substituted into URL and schema templates, and the label on every log line. Its
//! rules are the DNS label rules, so that a key taken from a subdomain and a key taken from a
//! header are the same key, and so that substituting it into a URL or an SQL identifier can
//! never inject anything.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The longest key accepted: the length limit of one DNS label.
pub const MAX_TENANT_ID_LEN: usize = 63;

/// A validated, case-folded tenant key.
///
/// Rules (those of a DNS label): 1 to 63 characters of `a-z`, `0-9` and `-`, not starting or
/// ending with `-`, and not one of the [`RESERVED_TENANT_IDS`]. ASCII upper case is folded to
/// lower case; anything else is rejected with an [`InvalidTenantId`] that says why. Cloning is
/// cheap (a reference count).
///
/// ```
/// use tenantpool_core::TenantId;
///
/// let id = TenantId::parse("Acme-Corp")?;
/// assert_eq!(id.as_str(), "acme-corp");
/// assert!(TenantId::parse("-acme").is_err());
/// assert!(TenantId::parse("acme.corp").is_err());
/// # Ok::<(), tenantpool_core::InvalidTenantId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid [`TenantId`].
///
/// The web adapter answers `400 Bad Request` for it.
///
/// ```
/// use tenantpool_core::{InvalidTenantId, TenantId};
///
/// assert_eq!(TenantId::parse(""), Err(InvalidTenantId::Empty));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTenantId {
    /// The key is empty.
    #[error("tenant key is empty")]
    Empty,
    /// The key is longer than 63 characters.
    #[error("tenant key is {len} characters long; at most {MAX_TENANT_ID_LEN} are allowed")]
    TooLong {
        /// The length of the rejected key, in bytes.
        len: usize,
    },
    /// The key contains a character outside `a-z`, `0-9` and `-`.
    #[error(
        "tenant key contains {found:?} at position {position}; only a-z, 0-9 and '-' are allowed"
    )]
    InvalidCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset in the key.
        position: usize,
    },
    /// The key starts or ends with `-`.
    #[error("tenant key must not start or end with '-'")]
    HyphenAtEdge,
    /// The key names a system database, schema or account of PostgreSQL or MySQL (see
    /// [`RESERVED_TENANT_IDS`]), which a template could turn into that very object.
    #[error("tenant key {0:?} names a system database or schema and is reserved")]
    Reserved(&'static str),
}

/// Keys no tenant may have: the names of PostgreSQL's and MySQL's system databases, schemas
/// and users. Substituted into a template such as `postgres://h/{tenant}` or a schema
/// template `{tenant}`, they would hand a tenant the server's own objects (`public` is every
/// PostgreSQL database's default schema). The other system names (`information_schema`,
/// `performance_schema`, `pg_*`) contain `_`, which no key can.
///
/// ```
/// use tenantpool_core::{InvalidTenantId, TenantId};
/// assert_eq!(TenantId::parse("Public"), Err(InvalidTenantId::Reserved("public")));
/// assert!(tenantpool_core::RESERVED_TENANT_IDS.contains(&"template1"));
/// ```
pub const RESERVED_TENANT_IDS: [&str; 6] = [
    "public",
    "postgres",
    "template0",
    "template1",
    "mysql",
    "sys",
];

impl TenantId {
    /// Validates and case-folds `raw`.
    ///
    /// ```
    /// use tenantpool_core::TenantId;
    /// assert_eq!(TenantId::parse("GLOBEX")?.as_str(), "globex");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        validate(raw)?;
        if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            Ok(Self(Arc::from(raw.to_ascii_lowercase())))
        } else {
            Ok(Self(Arc::from(raw)))
        }
    }

    /// The key as a string slice (always lower case).
    ///
    /// ```
    /// use tenantpool_core::TenantId;
    /// assert_eq!(TenantId::parse("acme")?.as_str(), "acme");
    /// # Ok::<(), tenantpool_core::InvalidTenantId>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(raw: &str) -> Result<(), InvalidTenantId> {
    if raw.is_empty() {
        return Err(InvalidTenantId::Empty);
    }
    if raw.len() > MAX_TENANT_ID_LEN {
        return Err(InvalidTenantId::TooLong { len: raw.len() });
    }
    for (position, found) in raw.char_indices() {
        if !(found.is_ascii_alphanumeric() || found == '-') {
            return Err(InvalidTenantId::InvalidCharacter { found, position });
        }
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err(InvalidTenantId::HyphenAtEdge);
    }
    if let Some(reserved) = RESERVED_TENANT_IDS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(raw))
    {
        return Err(InvalidTenantId::Reserved(reserved));
    }
    Ok(())
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels_and_folds_case() {
        for (raw, want) in [
            ("a", "a"),
            ("acme", "acme"),
            ("ACME", "acme"),
            ("a-b-c", "a-b-c"),
            ("x1", "x1"),
            ("0", "0"),
            (&"a".repeat(63), &"a".repeat(63)),
        ] {
            assert_eq!(
                TenantId::parse(raw).map(|t| t.to_string()),
                Ok(want.to_string())
            );
        }
    }

    #[test]
    fn rejects_everything_else_with_a_reason() {
        assert_eq!(TenantId::parse(""), Err(InvalidTenantId::Empty));
        assert_eq!(
            TenantId::parse(&"a".repeat(64)),
            Err(InvalidTenantId::TooLong { len: 64 })
        );
        assert_eq!(TenantId::parse("-a"), Err(InvalidTenantId::HyphenAtEdge));
        assert_eq!(TenantId::parse("a-"), Err(InvalidTenantId::HyphenAtEdge));
        for bad in [
            "a.b", "a_b", "a b", "é", "a\0", "a/b", "{tenant}", "a'b", "а",
        ] {
            assert!(
                matches!(
                    TenantId::parse(bad),
                    Err(InvalidTenantId::InvalidCharacter { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn deserializes_only_valid_keys() {
        let ok: TenantId = serde_json::from_str("\"Acme\"").unwrap();
        assert_eq!(ok.as_str(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"a.b\"").is_err());
    }
}
