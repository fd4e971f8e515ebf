//! The designs under test, named as the results table names them (A, B, C1, C2, D, E, and
//! their axum twins AX, BX, C1X).

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
    /// A on axum: a hand-written axum + deadpool server.
    AX,
    /// B on axum: tenantpool-axum with one tenant.
    BX,
    /// C1 on axum: tenantpool-axum, schema per tenant.
    C1X,
}

impl Variant {
    /// Every actix variant, in report order: the default run.
    pub const ALL: [Variant; 6] = [Self::A, Self::B, Self::C1, Self::C2, Self::D, Self::E];

    /// The axum variants (`--variants ax,bx,c1x`).
    pub const AXUM: [Variant; 3] = [Self::AX, Self::BX, Self::C1X];

    /// Parses `a`, `b`, `c1`, `c2`, `d` or `e` (any case).
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw.to_ascii_lowercase().as_str() {
            "a" => Self::A,
            "b" => Self::B,
            "c1" => Self::C1,
            "c2" => Self::C2,
            "d" => Self::D,
            "e" => Self::E,
            "ax" => Self::AX,
            "bx" => Self::BX,
            "c1x" => Self::C1X,
            other => {
                return fail(format!(
                    "unknown variant {other:?} (a, b, c1, c2, d, e, ax, bx, c1x)"
                ))
            }
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
            Self::AX => "AX",
            Self::BX => "BX",
            Self::C1X => "C1X",
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
            Self::AX => "hand-written axum + deadpool pool",
            Self::BX => "tenantpool-axum, 1 tenant",
            Self::C1X => "tenantpool-axum, schema per tenant",
        }
    }

    /// The `application_name` its connections carry.
    pub fn app_name(self) -> String {
        format!("lb_{}", self.label().to_ascii_lowercase())
    }

    /// Whether the variant runs on tenantpool (and so has a budget).
    pub fn is_tenantpool(self) -> bool {
        matches!(self, Self::B | Self::C1 | Self::C2 | Self::BX | Self::C1X)
    }

    /// Whether the variant is served by axum (the others by actix-web).
    pub fn is_axum(self) -> bool {
        matches!(self, Self::AX | Self::BX | Self::C1X)
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
        for variant in Variant::ALL.into_iter().chain(Variant::AXUM) {
            let json = serde_json::to_string(&variant).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", variant.label()));
            assert_eq!(serde_json::from_str::<Variant>(&json).ok(), Some(variant));
            assert_eq!(Variant::parse(variant.label()).ok(), Some(variant));
        }
    }
}
