//! The catalog's tables, for diesel's query builder, and the SQL that creates them.

diesel::table! {
    /// One row per tenant. `version` is the catalog's version at the row's last change.
    tenantpool_tenants (tenant_key) {
        tenant_key -> Text,
        placement -> Text,
        status -> Text,
        max_size -> Nullable<Integer>,
        tenant_max_in_use -> Nullable<Integer>,
        checkout_timeout_ms -> Nullable<BigInt>,
        migration_version -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// One row (`id = 1`): the catalog's version, raised by every change, which replicas poll.
    tenantpool_catalog (id) {
        id -> Integer,
        version -> BigInt,
        schema_version -> Integer,
    }
}

/// The catalog's schema for one backend: statements separated by `;` at the end of a line.
pub(super) fn install_sql(kind: crate::BackendKind) -> &'static str {
    match kind {
        crate::BackendKind::Postgres => include_str!("sql/postgres.sql"),
        crate::BackendKind::Mysql => include_str!("sql/mysql.sql"),
        crate::BackendKind::Sqlite => include_str!("sql/sqlite.sql"),
    }
}

/// The statements of a schema file, comments and blank lines left out. The PostgreSQL
/// function body (between `$$`) is kept whole.
pub(super) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_body = false;
    for line in sql.lines() {
        let trimmed = line.trim();
        if !in_body && (trimmed.starts_with("--") || trimmed.is_empty()) {
            continue;
        }
        if trimmed.matches("$$").count() % 2 == 1 {
            in_body = !in_body;
        }
        current.push_str(line);
        current.push('\n');
        if !in_body && trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_splits_into_whole_statements() {
        for kind in [
            crate::BackendKind::Postgres,
            crate::BackendKind::Mysql,
            crate::BackendKind::Sqlite,
        ] {
            let parts = statements(install_sql(kind));
            assert!(parts.len() >= 3, "{kind}: {parts:?}");
            assert!(parts.iter().all(|s| s.trim_end().ends_with(';')), "{kind}");
        }
        let pg = statements(install_sql(crate::BackendKind::Postgres));
        let function = pg
            .iter()
            .find(|s| s.contains("FUNCTION tenantpool_tenants_notify"));
        assert!(function.is_some_and(|f| f.contains("RETURN NULL;") && f.contains("END $$;")));
    }
}
