//! Secret references: `env:NAME` or `file:PATH`, resolved once at load time and never
//! printed.

use std::fmt;

/// A resolved secret. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Resolves a reference. A value without a scheme is rejected: secrets must not be
/// written into config files that end up in logs and repositories.
pub fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
    if let Some(name) = reference.strip_prefix("env:") {
        return env(name)
            .filter(|v| !v.is_empty())
            .map(Secret)
            .ok_or_else(|| format!("environment variable {name} is not set"));
    }
    if let Some(path) = reference.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| format!("cannot read secret file {path}: {e}"));
    }
    Err("secrets must be given as `env:NAME` or `file:PATH`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_and_file_and_rejects_inline() -> std::io::Result<()> {
        let env = |n: &str| (n == "KEY").then(|| "s3cret".to_string());
        assert_eq!(resolve("env:KEY", &env).map(|s| s.0), Ok("s3cret".into()));
        assert!(resolve("env:MISSING", &env).is_err());
        assert!(resolve("sk-inline", &env).is_err());
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("k");
        std::fs::write(&path, "from-file\n")?;
        let got = resolve(&format!("file:{}", path.display()), &env).map(|s| s.0);
        assert_eq!(got, Ok("from-file".into()));
        assert_eq!(format!("{:?}", Secret("x".into())), "Secret(***)");
        Ok(())
    }
}
