//! [`SetupError`]: a configuration of the web side that cannot work, found at startup.

/// A configuration that cannot work: a section that does not deserialize, or a value out of
/// range. Raised at startup, never at request time.
///
/// ```
/// let err = tenantpool_resolve::Resolver::builder().header("bad header").build().unwrap_err();
/// assert!(err.to_string().contains("resolve.header"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A section does not deserialize.
    #[error("cannot read the [{section}] section: {reason}")]
    Load {
        /// The section.
        section: &'static str,
        /// What the config crate reported.
        reason: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting's path, e.g. `resolve.base_domains`.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

impl SetupError {
    /// Reads the `[section]` of `config`, or the defaults when the section is absent.
    ///
    /// ```
    /// use tenantpool_resolve::{ResolveConfig, SetupError};
    /// let cfg = config::Config::builder().build()?;
    /// let section: ResolveConfig = SetupError::load_section(&cfg, "resolve")?;
    /// assert!(section.required);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_section<T>(config: &config::Config, section: &'static str) -> Result<T, Self>
    where
        T: serde::de::DeserializeOwned + Default,
    {
        match config.get::<T>(section) {
            Ok(loaded) => Ok(loaded),
            Err(config::ConfigError::NotFound(_)) => Ok(T::default()),
            Err(e) => Err(Self::Load {
                section,
                reason: e.to_string(),
            }),
        }
    }
}
