//! `[auth]` and `[ollama]`: who may call the gateway, and whether Ollama's model management
//! passes through. Raw tables, their validation, and the start-up rule that keeps a gateway
//! reachable from the network from serving without authentication (`check_exposure`).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `[auth]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawAuth {
    /// How callers prove who they are: `none` (default) or `api_keys` (keys made with
    /// `devassist keys create`, stored hashed in `keys_db`). `gitlab` and `jwt` are reserved
    /// for GitLab's and OIDC tokens.
    pub mode: Option<String>,
    /// Admit requests without credentials as an anonymous, non-admin caller. Needed to serve
    /// a non-loopback address with `mode = "none"`. Anonymous callers never manage keys, and
    /// manage Ollama models only with `[ollama] allow_management = true`. Default false.
    pub allow_anonymous: Option<bool>,
    /// The SQLite file that holds the API keys. Default `keys.db` in `server.data_dir`.
    pub keys_db: Option<String>,
}

/// The `[ollama]` table: the Ollama surface's settings.
#[derive(Debug, Default, Deserialize)]
pub struct RawOllama {
    /// Let anonymous callers use `/api/pull`, `/api/push`, `/api/create`, `/api/copy` and
    /// `/api/delete` on Ollama backends. With API keys these need an admin key whatever this
    /// says. Default false.
    pub allow_management: Option<bool>,
}

/// How callers authenticate. Closed set; GitLab's tokens and generic OIDC JWTs become
/// variants with their own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No credentials are checked.
    None,
    /// API keys from the key store.
    ApiKeys,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::ApiKeys => "api_keys",
        }
    }
}

/// Validated `[auth]` and `[ollama]` settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub allow_anonymous: bool,
    /// `None`: `keys.db` in the data directory.
    pub keys_db: Option<PathBuf>,
    /// `[ollama] allow_management`.
    pub ollama_management: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            allow_anonymous: false,
            keys_db: None,
            ollama_management: false,
        }
    }
}

impl AuthSettings {
    /// The key store's file, given the data directory.
    pub fn keys_db(&self, data_dir: &std::path::Path) -> PathBuf {
        self.keys_db
            .clone()
            .unwrap_or_else(|| data_dir.join("keys.db"))
    }
}

pub fn validate(
    raw: RawAuth,
    ollama: RawOllama,
    p: &mut impl FnMut(String, String),
) -> AuthSettings {
    let mode = match raw.mode.as_deref() {
        None | Some("none") => AuthMode::None,
        Some("api_keys") => AuthMode::ApiKeys,
        Some(planned @ ("gitlab" | "jwt")) => {
            p(
                "auth.mode".into(),
                format!("`{planned}` authentication is not available yet; use `api_keys`"),
            );
            AuthMode::None
        }
        Some(other) => {
            p(
                "auth.mode".into(),
                format!("`{other}` is not `none` or `api_keys`"),
            );
            AuthMode::None
        }
    };
    let keys_db = raw.keys_db.map(PathBuf::from);
    if keys_db.is_some() && mode != AuthMode::ApiKeys {
        p(
            "auth.keys_db".into(),
            "is only used with `mode = \"api_keys\"`".into(),
        );
    }
    AuthSettings {
        mode,
        allow_anonymous: raw.allow_anonymous.unwrap_or(false),
        keys_db,
        ollama_management: ollama.allow_management.unwrap_or(false),
    }
}

/// Safe by default: a listener that other machines can reach needs authentication, or the
/// admin's explicit word that anonymous callers are fine. The message names both ways out.
pub fn check_exposure(listen: SocketAddr, auth: &AuthSettings) -> Result<(), String> {
    if listen.ip().is_loopback() || auth.mode != AuthMode::None || auth.allow_anonymous {
        return Ok(());
    }
    Err(format!(
        "refusing to serve {listen} without authentication: any machine that can reach it \
         could use every model. Either turn on API keys (`[auth] mode = \"api_keys\"`, then \
         `devassist keys create --name NAME`), or accept anonymous callers explicitly \
         (`[auth] allow_anonymous = true`). See docs/security.md."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: AuthMode, allow_anonymous: bool) -> AuthSettings {
        AuthSettings {
            mode,
            allow_anonymous,
            ..AuthSettings::default()
        }
    }

    #[test]
    fn only_an_unauthenticated_network_listener_is_refused() {
        let lo: SocketAddr = "127.0.0.1:11434".parse().unwrap();
        let lo6: SocketAddr = "[::1]:11434".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:11434".parse().unwrap();
        let lan: SocketAddr = "192.168.1.5:80".parse().unwrap();
        for addr in [lo, lo6] {
            assert!(check_exposure(addr, &settings(AuthMode::None, false)).is_ok());
        }
        for addr in [any, lan] {
            let err = check_exposure(addr, &settings(AuthMode::None, false)).unwrap_err();
            assert!(err.contains("mode = \"api_keys\""), "{err}");
            assert!(err.contains("allow_anonymous = true"), "{err}");
            assert!(check_exposure(addr, &settings(AuthMode::None, true)).is_ok());
            assert!(check_exposure(addr, &settings(AuthMode::ApiKeys, false)).is_ok());
        }
    }

    #[test]
    fn modes_parse_and_the_planned_ones_say_so() {
        let mut problems = Vec::new();
        let mut p = |path: String, msg: String| problems.push(format!("{path}: {msg}"));
        let raw = |m: &str| RawAuth {
            mode: Some(m.into()),
            ..RawAuth::default()
        };
        assert_eq!(
            validate(raw("api_keys"), RawOllama::default(), &mut p).mode,
            AuthMode::ApiKeys
        );
        validate(raw("gitlab"), RawOllama::default(), &mut p);
        validate(raw("basic"), RawOllama::default(), &mut p);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("not available yet"));
    }
}
