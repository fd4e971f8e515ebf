//! The `[directory]` section: static tenants, a catalog, a template, or any of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CatalogConfig;
use crate::directory::{
    ChainDirectory, PoolOverrides, StaticDirectory, TemplateDirectory, TenantTarget,
};
use crate::{ConfigError, DatabaseUrl, SchemaName, TenantId, UrlTemplate};

/// The `[directory]` section of the configuration: static tenants, a catalog (see
/// [`CatalogConfig`]), a template, asked in that order.
///
/// ```toml
/// [directory.tenants.acme]
/// url = "postgres://app@127.0.0.1:5432/tenant_acme"
/// max_size = 4
///
/// [directory.tenants.globex]
/// url = "postgres://app@127.0.0.1:5432/shared"
/// schema = "globex"
///
/// [directory.template]
/// url = "postgres://app@127.0.0.1:5432/tenant_{tenant}"
/// allow = ["initech", "umbrella"]
/// ```
///
/// ```
/// let settings = tenantpool_core::Settings::from_toml_str(r#"
///     [directory.tenants.acme]
///     url = "sqlite://data/acme.db"
///     create_missing = true
/// "#)?;
/// let directory = settings.directory.build()?;
/// # Ok::<(), tenantpool_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Tenants listed one by one, by key.
    pub tenants: BTreeMap<String, StaticTenantConfig>,
    /// Tenants in a catalog table of a control database.
    pub catalog: Option<CatalogConfig>,
    /// A template for every other tenant.
    pub template: Option<TemplateConfig>,
}

/// One statically configured tenant.
///
/// ```
/// let t: tenantpool_core::config::StaticTenantConfig =
///     serde_json::from_str(r#"{"url": "sqlite://data/a.db", "create_missing": true}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticTenantConfig {
    /// The database URL.
    pub url: DatabaseUrl,
    /// The tenant's schema, for schema-per-tenant isolation.
    #[serde(default)]
    pub schema: Option<String>,
    /// Create the SQLite file or schema when missing.
    #[serde(default)]
    pub create_missing: bool,
    /// The tenant is suspended: listed, answered with 403, its database not touched.
    #[serde(default)]
    pub suspended: bool,
    /// Pool overrides for this tenant (`max_size`, `tenant_max_in_use`, `checkout_timeout`),
    /// written inline in the tenant's table.
    #[serde(flatten)]
    pub overrides: PoolOverrides,
}

/// A templated tenant source.
///
/// ```
/// let t: tenantpool_core::config::TemplateConfig =
///     serde_json::from_str(r#"{"url": "postgres://h/shared", "schema": "t_{tenant}"}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// URL template (must contain `{tenant}` unless `schema` does); its password never
    /// prints.
    pub url: UrlTemplate,
    /// Schema template, for schema-per-tenant isolation.
    #[serde(default)]
    pub schema: Option<String>,
    /// Only these tenant keys exist.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Create the missing SQLite files or schemas of the tenants in `allow` (an error
    /// without `allow`: a request alone never creates anything).
    #[serde(default)]
    pub create_missing: bool,
    /// Pool overrides for templated tenants (`max_size`, `tenant_max_in_use`,
    /// `checkout_timeout`), written inline in the section.
    #[serde(flatten)]
    pub overrides: PoolOverrides,
}

impl DirectoryConfig {
    /// Checks every entry without building anything.
    ///
    /// ```
    /// assert!(tenantpool_core::config::DirectoryConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.build().map(drop)
    }

    /// Builds the directory the section describes.
    ///
    /// ```
    /// let dir = tenantpool_core::config::DirectoryConfig::default().build()?;
    /// # Ok::<(), tenantpool_core::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<ChainDirectory, ConfigError> {
        let mut listed = StaticDirectory::new();
        for (key, t) in &self.tenants {
            let tenant = TenantId::parse(key).map_err(|e| ConfigError::Invalid {
                setting: "directory.tenants",
                reason: format!("{key:?}: {e}"),
            })?;
            let mut target = match &t.schema {
                Some(s) => TenantTarget::schema(t.url.clone(), SchemaName::parse(s)?),
                None => TenantTarget::database(t.url.clone()),
            };
            target.create_missing = t.create_missing;
            target.suspended = t.suspended;
            target.overrides = t.overrides.clone();
            // A configured target's TLS files must be readable at start-up, not at the
            // tenant's first request.
            target.url.tls().check_files()?;
            listed.insert(tenant, target);
        }
        let mut chain = ChainDirectory::new().then(listed);
        if let Some(catalog) = &self.catalog {
            chain = chain.then(catalog.build()?);
        }
        if let Some(t) = &self.template {
            let mut dir = TemplateDirectory::new(t.url.expose_secret(), t.schema.as_deref())?
                .with_overrides(t.overrides.clone());
            DatabaseUrl::parse(&t.url.expose_secret().replace("{tenant}", "a"))?
                .tls()
                .check_files()?;
            if t.create_missing {
                if t.allow.is_none() {
                    return Err(ConfigError::Invalid {
                        setting: "directory.template.create_missing",
                        reason: "it would create a database or schema for any key a request \
                                 names: list the tenants in directory.template.allow"
                            .into(),
                    });
                }
                dir = dir.creating_missing();
            }
            if let Some(allow) = &t.allow {
                let keys = allow
                    .iter()
                    .map(|k| TenantId::parse(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::Invalid {
                        setting: "directory.template.allow",
                        reason: e.to_string(),
                    })?;
                dir = dir.try_allow(keys)?;
            }
            chain = chain.then(dir);
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantDirectory;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn static_tenants_win_over_the_template() {
        let settings = crate::Settings::from_toml_str(
            r#"
            [directory.tenants.acme]
            url = "sqlite://special/acme.db"
            max_size = 3
            [directory.template]
            url = "sqlite://data/{tenant}.db"
            "#,
        )
        .unwrap();
        let dir = settings.directory.build().unwrap();
        let acme = block_on(dir.lookup(&TenantId::parse("acme").unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(acme.url.database(), Some("special/acme.db"));
        assert_eq!(acme.overrides.max_size, Some(3));
        let other = block_on(dir.lookup(&TenantId::parse("zed").unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(other.url.database(), Some("data/zed.db"));
    }

    #[test]
    fn overrides_are_read_inline_and_typos_are_rejected() {
        let settings = crate::Settings::from_toml_str(
            r#"
            [directory.tenants.acme]
            url = "sqlite://a.db"
            tenant_max_in_use = 2
            checkout_timeout = "750ms"
            [directory.template]
            url = "sqlite://data/{tenant}.db"
            max_size = 5
            "#,
        )
        .unwrap();
        let acme = &settings.directory.tenants["acme"].overrides;
        assert_eq!(acme.tenant_max_in_use, Some(2));
        assert_eq!(
            acme.checkout_timeout,
            Some(std::time::Duration::from_millis(750))
        );
        let template = settings.directory.template.as_ref().unwrap();
        assert_eq!(template.overrides.max_size, Some(5));

        for (bad, typo) in [
            (
                "[directory.tenants.acme]\nurl = \"sqlite://a.db\"\nmax_sise = 3",
                "max_sise",
            ),
            (
                "[directory.template]\nurl = \"sqlite://{tenant}.db\"\ncheckout_timout = \"1s\"",
                "checkout_timout",
            ),
        ] {
            let err = crate::Settings::from_toml_str(bad).unwrap_err();
            assert!(err.to_string().contains(typo), "{err}");
        }
    }

    #[test]
    fn overrides_given_as_strings_parse_as_environment_variables_are() {
        // The environment source gives every value as a string.
        let cfg = config::Config::builder()
            .set_override("directory.template.url", "sqlite://data/{tenant}.db")
            .unwrap()
            .set_override("directory.template.max_size", "4")
            .unwrap()
            .set_override("directory.template.tenant_max_in_use", "2")
            .unwrap()
            .build()
            .unwrap();
        let s = crate::Settings::from_config(&cfg).unwrap();
        let overrides = s.directory.template.unwrap().overrides;
        assert_eq!(overrides.max_size, Some(4));
        assert_eq!(overrides.tenant_max_in_use, Some(2));
    }

    #[test]
    fn unreadable_tls_files_of_configured_targets_fail_at_start_up() {
        for section in [
            "[directory.tenants.acme]\nurl = \"postgres://app@db/acme?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem\"",
            "[directory.template]\nurl = \"mysql://app@db/{tenant}?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem\"",
        ] {
            let err = crate::Settings::from_toml_str(section).unwrap_err();
            assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        }
    }

    #[test]
    fn config_rejects_invalid_tenant_keys() {
        let err = crate::Settings::from_toml_str(
            "[directory.tenants.\"bad.key\"]\nurl = \"sqlite://a.db\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad.key"), "{err}");
    }
}
