//! The query every server runs per request, chosen with `--query cached|sql`.

use serde::{Deserialize, Serialize};

use crate::{fail, Result};

/// The query every variant runs per request; serialised as its label (`"cached"`, `"sql"`).
///
/// ```
/// use tenantpool_loadbench::query::Query;
/// assert_eq!(Query::parse("sql").ok(), Some(Query::Sql));
/// assert_eq!(Query::default().label(), "cached");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Query {
    /// `diesel::select(1.into_sql::<Integer>())`: prepared once per connection, then cached.
    #[default]
    Cached,
    /// `diesel::sql_query("SELECT 1")`: never cached, parsed anew on every request.
    Sql,
}

impl Query {
    /// Parses `cached` or `sql`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "cached" => Ok(Self::Cached),
            "sql" => Ok(Self::Sql),
            other => fail(format!("--query {other:?}: expected cached or sql")),
        }
    }

    /// The name `parse` reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cached => "cached",
            Self::Sql => "sql",
        }
    }

    /// What the query is, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cached => {
                "`diesel::select(1.into_sql::<Integer>())`, prepared once per connection and cached"
            }
            Self::Sql => "`diesel::sql_query(\"SELECT 1\")`, parsed anew on every request",
        }
    }
}
