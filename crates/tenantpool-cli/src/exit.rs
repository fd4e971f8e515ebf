//! Exit codes a script can rely on (0 is success), and the failure that carries one.

use tenantpool_core::catalog::CatalogError;

/// Failed for another reason.
pub const FAILED: u8 = 1;
/// Bad usage or configuration (clap also exits with 2 on bad arguments).
pub const USAGE: u8 = 2;
/// No such tenant.
pub const NOT_FOUND: u8 = 3;
/// The tenant exists.
pub const EXISTS: u8 = 4;
/// The tenant is locked by another provisioning operation.
pub const LOCKED: u8 = 5;
/// A database is unreachable.
pub const UNAVAILABLE: u8 = 6;

/// Why the command failed, with its exit code and a stable kind for `--json`.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
}

impl Failure {
    pub fn other(message: String) -> Self {
        Self {
            code: FAILED,
            kind: "failed",
            message,
        }
    }

    pub fn usage(message: String) -> Self {
        Self {
            code: USAGE,
            kind: "usage",
            message,
        }
    }
}

impl From<CatalogError> for Failure {
    fn from(e: CatalogError) -> Self {
        let (code, kind) = match &e {
            CatalogError::NotFound { .. } => (NOT_FOUND, "not_found"),
            CatalogError::Exists { .. } => (EXISTS, "exists"),
            CatalogError::Locked { .. } => (LOCKED, "locked"),
            CatalogError::Unavailable(_) => (UNAVAILABLE, "unavailable"),
            CatalogError::UnknownPlacement { .. } | CatalogError::NotInstalled(_) => {
                (USAGE, "usage")
            }
            _ => (FAILED, "failed"),
        };
        Self {
            code,
            kind,
            message: e.to_string(),
        }
    }
}
