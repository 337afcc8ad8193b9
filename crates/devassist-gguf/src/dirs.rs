//! Where local models live: `--models-dir DIR`, else `$DEVASSIST_MODELS`, else
//! `devassist/models` under the XDG data dir (`$XDG_DATA_HOME`, default `~/.local/share`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that names the models directory.
pub const MODELS_ENV: &str = "DEVASSIST_MODELS";

/// The models directory for this process: `cli` when given, else the environment rule.
pub fn models_dir(cli: Option<&Path>) -> PathBuf {
    resolve_models_dir(cli, |name| std::env::var_os(name))
}

/// The rule itself, with the environment passed in (testable without touching the process env).
/// Empty variables count as unset. With no `HOME` either, falls back to `./models`.
pub fn resolve_models_dir(cli: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    if let Some(dir) = var(MODELS_ENV) {
        return dir;
    }
    let data = var("XDG_DATA_HOME").or_else(|| var("HOME").map(|h| h.join(".local").join("share")));
    match data {
        Some(data) => data.join("devassist").join("models"),
        None => PathBuf::from("models"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn cli_flag_wins() {
        let dir = resolve_models_dir(Some(Path::new("/m")), env(&[(MODELS_ENV, "/e")]));
        assert_eq!(dir, PathBuf::from("/m"));
    }

    #[test]
    fn env_var_then_xdg_then_home() {
        let all = [(MODELS_ENV, "/e"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(resolve_models_dir(None, env(&all)), PathBuf::from("/e"));
        assert_eq!(
            resolve_models_dir(None, env(&all[1..])),
            PathBuf::from("/x/devassist/models")
        );
        assert_eq!(
            resolve_models_dir(None, env(&[(MODELS_ENV, ""), ("HOME", "/h")])),
            PathBuf::from("/h/.local/share/devassist/models")
        );
        assert_eq!(resolve_models_dir(None, env(&[])), PathBuf::from("models"));
    }
}
