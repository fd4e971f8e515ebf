//! The designs under test, named as the results table names them (A, B, C1, C2, D, E).

use serde::{Deserialize, Serialize};

use crate::{fail, Result};

/// One of the designs under test; serialised as its label (`"A"`, `"C1"`, ...).
///
/// ```
/// use tenantpool_loadbench::variant::Variant;
/// assert_eq!(Variant::parse("c2").map(Variant::label).ok(), Some("C2"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Variant {
    /// A hand-written single deadpool pool.
    A,
    /// tenantpool with one tenant.
    B,
    /// tenantpool, schema per tenant.
    C1,
    /// tenantpool, database per tenant.
    C2,
    /// A new connection per request.
    D,
    /// A naive `HashMap<tenant, Pool>`.
    E,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 6] = [Self::A, Self::B, Self::C1, Self::C2, Self::D, Self::E];

    /// Parses `a`, `b`, `c1`, `c2`, `d` or `e` (any case).
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw.to_ascii_lowercase().as_str() {
            "a" => Self::A,
            "b" => Self::B,
            "c1" => Self::C1,
            "c2" => Self::C2,
            "d" => Self::D,
            "e" => Self::E,
            other => return fail(format!("unknown variant {other:?} (a, b, c1, c2, d, e)")),
        })
    }

    /// `A`, `B`, `C1`, ...
    pub fn label(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C1 => "C1",
            Self::C2 => "C2",
            Self::D => "D",
            Self::E => "E",
        }
    }

    /// What the variant is, for the results table.
    pub fn describe(self) -> &'static str {
        match self {
            Self::A => "hand-written single deadpool pool",
            Self::B => "tenantpool, 1 tenant",
            Self::C1 => "tenantpool, schema per tenant",
            Self::C2 => "tenantpool, database per tenant",
            Self::D => "new connection per request",
            Self::E => "naive HashMap<tenant, Pool>, 5 per tenant",
        }
    }

    /// The `application_name` its connections carry.
    pub fn app_name(self) -> String {
        format!("lb_{}", self.label().to_ascii_lowercase())
    }

    /// Whether the variant runs on tenantpool (and so has a budget).
    pub fn is_tenantpool(self) -> bool {
        matches!(self, Self::B | Self::C1 | Self::C2)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_serialises_as_its_label_and_parses_back() {
        for variant in Variant::ALL {
            let json = serde_json::to_string(&variant).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", variant.label()));
            assert_eq!(serde_json::from_str::<Variant>(&json).ok(), Some(variant));
            assert_eq!(Variant::parse(variant.label()).ok(), Some(variant));
        }
    }
}
