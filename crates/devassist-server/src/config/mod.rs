//! Configuration: TOML file → environment overrides → raw structs → validated `Settings`.
//!
//! `load` is what `devassist serve` uses; `check` is what `devassist config check` prints.

pub mod aliases;
pub mod auth;
pub mod auth_tokens;
pub mod docs;
mod env;
pub mod features;
pub mod gitlab;
pub mod lifecycle;
pub mod limits;
pub mod logging;
pub mod prompt_cache;
pub mod raw;
pub mod redaction;
pub mod secret;
pub mod settings;
pub mod telemetry;
pub mod transport;
mod validate;

pub use auth::{AuthMode, AuthSettings};
pub use docs::DocsSettings;
pub use features::{FeatureSettings, Features};
pub use limits::{LimitsSettings, OnStoreError, RedisLimitSettings};
pub use prompt_cache::PromptCacheSettings;
pub use settings::*;
pub use telemetry::{MetricsSettings, UsageSettings};
pub use validate::DEFAULT_LISTEN;

use std::fmt;
use std::path::Path;

/// One configuration problem, with the key path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a configuration.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path` (or nothing, for the defaults) with the process environment.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
            problems: vec![Problem::new(
                p.display().to_string(),
                format!("cannot read: {e}"),
            )],
        })?,
        None => String::new(),
    };
    from_str(&text, &vars, &|name| std::env::var(name).ok())
}

/// Parses and validates `text` with the given override variables and secret lookup.
pub fn from_str(
    text: &str,
    vars: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    let mut root: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "file".into());
            return Err(ConfigError {
                problems: vec![Problem::new(at, e.message().to_string())],
            });
        }
    };
    env::apply(&mut root, vars, &mut problems);

    let mut unknown = Vec::new();
    // `Option` tables show as `?` segments: `auth.oidc.?.groups` is `auth.oidc.groups`.
    let mut record =
        |path: serde_ignored::Path<'_>| unknown.push(path.to_string().replace(".?", ""));
    let de = serde_ignored::Deserializer::new(toml::Value::Table(root), &mut record);
    let raw: raw::RawConfig = match serde_path_to_error::deserialize(de) {
        Ok(raw) => raw,
        Err(e) => {
            problems.push(Problem::new(e.path().to_string(), e.inner().to_string()));
            return Err(ConfigError { problems });
        }
    };
    for path in unknown {
        problems.push(Problem::new(path, "unknown key"));
    }
    match validate::validate(raw, env, &mut problems) {
        Some(settings) if problems.is_empty() => Ok(settings),
        _ => Err(ConfigError { problems }),
    }
}

#[cfg(test)]
mod tests;
