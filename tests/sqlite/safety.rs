//! Who may create a tenant's database objects: a request alone never does (a template creates
//! only for the keys it lists, and saying otherwise in the configuration is a start-up error),
//! and keys naming system databases and schemas are refused everywhere.

use tenantpool::config::DirectoryConfig;
use tenantpool::{
    ConfigError, Error, ErrorKind, InvalidTenantId, TemplateDirectory, TenantId,
    RESERVED_TENANT_IDS,
};

use crate::{data_dir, file, registry, settings, tenant, text};

#[tokio::test]
async fn a_template_without_an_allow_list_creates_nothing_for_a_requested_key() {
    let dir = data_dir("safety_unlisted");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let registry = registry(
        settings(4, 2),
        TemplateDirectory::database(&template)
            .expect("template")
            .creating_missing(),
    );
    for key in ["stranger", "anything", "acme"] {
        let err = registry
            .get(&tenant(key))
            .await
            .expect_err("an unlisted key has no file and gets none");
        assert!(
            matches!(err, Error::DatabaseMissing { .. }),
            "{key}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(!file(&dir, key).exists(), "{key}: a request created a file");
    }
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
    let stats = registry.stats();
    assert!(stats.pools.is_empty(), "a failed start left a pool open");
}

#[tokio::test]
async fn a_template_creates_the_files_of_its_listed_tenants_only() {
    let dir = data_dir("safety_listed");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let registry = registry(
        settings(4, 2),
        TemplateDirectory::database(&template)
            .expect("template")
            .allow([tenant("acme")])
            .creating_missing(),
    );
    let mut conn = registry
        .get(&tenant("acme"))
        .await
        .expect("listed: created");
    assert_eq!(text(&mut conn, "SELECT 'here' AS value").await, "here");
    drop(conn);
    assert!(file(&dir, "acme").exists());
    let err = registry
        .get(&tenant("stranger"))
        .await
        .expect_err("not listed");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    assert!(!file(&dir, "stranger").exists());
}

#[test]
fn create_missing_without_an_allow_list_is_a_configuration_error() {
    let unlisted: DirectoryConfig = serde_json::from_value(serde_json::json!({
        "template": { "url": "sqlite://data/{tenant}.db", "create_missing": true }
    }))
    .expect("the section parses");
    let err = unlisted.validate().expect_err("refused at start-up");
    assert!(
        matches!(
            &err,
            ConfigError::Invalid { setting, .. } if *setting == "directory.template.create_missing"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("directory.template.allow"),
        "{err}"
    );

    let listed: DirectoryConfig = serde_json::from_value(serde_json::json!({
        "template": {
            "url": "sqlite://data/{tenant}.db",
            "create_missing": true,
            "allow": ["acme"]
        }
    }))
    .expect("the section parses");
    listed.validate().expect("a listed template may create");
    let lookup_only: DirectoryConfig = serde_json::from_value(serde_json::json!({
        "template": { "url": "sqlite://data/{tenant}.db" }
    }))
    .expect("the section parses");
    lookup_only
        .validate()
        .expect("a template that creates nothing needs no list");
}

#[test]
fn keys_naming_system_databases_and_schemas_are_refused_in_any_case() {
    for key in RESERVED_TENANT_IDS {
        for spelled in [key.to_string(), key.to_ascii_uppercase()] {
            assert_eq!(
                TenantId::parse(&spelled),
                Err(InvalidTenantId::Reserved(key)),
                "{spelled}"
            );
        }
        // Nor can a configuration list one.
        let listed: Result<DirectoryConfig, _> = serde_json::from_value(serde_json::json!({
            "tenants": { key: { "url": "sqlite://data/x.db" } }
        }));
        let refused = match listed {
            Ok(config) => config.validate().is_err(),
            Err(_) => true,
        };
        assert!(refused, "{key} listed in [directory.tenants]");
        let allowed: DirectoryConfig = serde_json::from_value(serde_json::json!({
            "template": { "url": "sqlite://data/{tenant}.db", "allow": [key] }
        }))
        .expect("the section parses");
        assert!(allowed.validate().is_err(), "{key} on an allow list");
    }
    // Names with `_` were never keys.
    for name in ["information_schema", "performance_schema", "pg_catalog"] {
        assert!(TenantId::parse(name).is_err(), "{name}");
    }
    // Keys that merely contain a reserved name are ordinary keys.
    for key in ["public-co", "my-sys", "postgres2"] {
        TenantId::parse(key).expect(key);
    }
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_with_403_before_anything_is_opened() {
    let dir = data_dir("safety_suspended");
    let config: DirectoryConfig = serde_json::from_value(serde_json::json!({
        "tenants": {
            "frozen": {
                "url": format!("sqlite://{}/frozen.db", dir.display()),
                "create_missing": true,
                "suspended": true
            }
        }
    }))
    .expect("the section parses");
    let registry = registry(settings(4, 2), config.build().expect("directory"));
    for _ in 0..2 {
        let err = registry
            .get(&tenant("frozen"))
            .await
            .expect_err("suspended");
        assert!(matches!(err, Error::Suspended { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        assert_eq!(err.kind().http_status(), 403);
        assert_eq!(err.tenant().map(TenantId::as_str), Some("frozen"));
    }
    assert!(!file(&dir, "frozen").exists(), "its file was created");
    assert!(!registry.is_cached(&tenant("frozen")));
    let stats = registry.stats();
    assert!(
        stats.pools.is_empty() && stats.budgets.is_empty(),
        "{stats:?}"
    );
    assert_eq!(stats.counters.connections_created, 0);
}
