//! `[auth]` and `[ollama]`: who may call the gateway, and whether Ollama's model management
//! passes through. Raw tables, their validation, and the start-up rule that keeps a gateway
//! reachable from the network from serving without authentication (`check_exposure`). The
//! token modes' own tables (`[auth.gitlab]`, `[auth.oidc]`) are in `auth_tokens.rs`.

use super::auth_tokens::{GitLabAuthSettings, OidcSettings, RawGitLabAuth, RawOidc};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `[auth]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawAuth {
    /// How callers prove who they are: `none` (default), or one or a list of `api_keys`
    /// (keys made with `devassist keys create`, stored hashed in `keys_db`), `gitlab`
    /// (GitLab's signed tokens, `[auth.gitlab]`) and `oidc` (the company's OpenID Connect
    /// tokens, `[auth.oidc]`), e.g. `mode = ["gitlab", "api_keys"]`.
    pub mode: Option<RawModes>,
    /// Admit requests without credentials as an anonymous, non-admin caller. Needed to serve
    /// a non-loopback address with `mode = "none"`. Anonymous callers never manage keys, and
    /// manage Ollama models only with `[ollama] allow_management = true`. Default false.
    pub allow_anonymous: Option<bool>,
    /// The SQLite file that holds the API keys. Default `keys.db` in `server.data_dir`.
    pub keys_db: Option<String>,
    /// GitLab's tokens: the instance whose keys sign them, the key that signs IDE tokens.
    pub gitlab: Option<RawGitLabAuth>,
    /// The company's OpenID Connect tokens: issuer, audience, groups → policies.
    pub oidc: Option<RawOidc>,
}

/// `mode = "api_keys"` or `mode = ["gitlab", "api_keys"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawModes {
    One(String),
    Many(Vec<String>),
}

/// The `[ollama]` table: the Ollama surface's settings.
#[derive(Debug, Default, Deserialize)]
pub struct RawOllama {
    /// Let anonymous callers use `/api/pull`, `/api/push`, `/api/create`, `/api/copy` and
    /// `/api/delete` on Ollama backends. With API keys these need an admin key whatever this
    /// says. Default false.
    pub allow_management: Option<bool>,
}

/// A way callers authenticate. Closed set; several may be on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthMode {
    /// No credentials are checked.
    None,
    /// API keys from the key store.
    ApiKeys,
    /// GitLab's signed tokens (`X-Gitlab-Authentication-Type: oidc`).
    GitLab,
    /// JWTs from the company's OpenID Connect identity provider.
    Oidc,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::ApiKeys => "api_keys",
            AuthMode::GitLab => "gitlab",
            AuthMode::Oidc => "oidc",
        }
    }

    fn parse(s: &str) -> Option<AuthMode> {
        [
            AuthMode::None,
            AuthMode::ApiKeys,
            AuthMode::GitLab,
            AuthMode::Oidc,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Validated `[auth]` and `[ollama]` settings.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// API keys from the key store are accepted.
    pub api_keys: bool,
    /// GitLab's tokens are accepted (`mode` includes `gitlab`).
    pub gitlab: Option<GitLabAuthSettings>,
    /// OIDC tokens are accepted (`mode` includes `oidc`).
    pub oidc: Option<OidcSettings>,
    pub allow_anonymous: bool,
    /// `None`: `keys.db` in the data directory.
    pub keys_db: Option<PathBuf>,
    /// `[ollama] allow_management`.
    pub ollama_management: bool,
}

impl AuthSettings {
    /// The key store's file, given the data directory.
    pub fn keys_db(&self, data_dir: &std::path::Path) -> PathBuf {
        self.keys_db
            .clone()
            .unwrap_or_else(|| data_dir.join("keys.db"))
    }

    /// Whether any way of authenticating is on.
    pub fn is_on(&self) -> bool {
        !self.modes().is_empty()
    }

    /// The modes that are on, for logs and messages; empty for `none`.
    pub fn modes(&self) -> Vec<AuthMode> {
        [
            (self.api_keys, AuthMode::ApiKeys),
            (self.gitlab.is_some(), AuthMode::GitLab),
            (self.oidc.is_some(), AuthMode::Oidc),
        ]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect()
    }
}

pub fn validate(
    raw: RawAuth,
    ollama: RawOllama,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut impl FnMut(String, String),
) -> AuthSettings {
    let modes = modes(raw.mode, p);
    let api_keys = modes.contains(&AuthMode::ApiKeys);
    let keys_db = raw.keys_db.map(PathBuf::from);
    if keys_db.is_some() && !api_keys {
        p(
            "auth.keys_db".into(),
            "is only used when `mode` includes `api_keys`".into(),
        );
    }
    let gitlab = section(modes.contains(&AuthMode::GitLab), raw.gitlab, "gitlab", p)
        .and_then(|raw| super::auth_tokens::validate_gitlab(raw, env, p));
    let oidc = section(modes.contains(&AuthMode::Oidc), raw.oidc, "oidc", p)
        .and_then(|raw| super::auth_tokens::validate_oidc(raw, p));
    AuthSettings {
        api_keys,
        gitlab,
        oidc,
        allow_anonymous: raw.allow_anonymous.unwrap_or(false),
        keys_db,
        ollama_management: ollama.allow_management.unwrap_or(false),
    }
}

/// `mode` as a set; `none` alone or nothing is the empty set.
fn modes(raw: Option<RawModes>, p: &mut impl FnMut(String, String)) -> Vec<AuthMode> {
    let names = match raw {
        None => return Vec::new(),
        Some(RawModes::One(m)) => vec![m],
        Some(RawModes::Many(list)) => list,
    };
    let mut modes = Vec::new();
    for name in &names {
        match AuthMode::parse(name) {
            Some(m) if !modes.contains(&m) => modes.push(m),
            Some(_) => {}
            None if name == "jwt" => p(
                "auth.mode".into(),
                "`jwt` is called `oidc`: `mode = \"oidc\"` with an `[auth.oidc]` table".into(),
            ),
            None => p(
                "auth.mode".into(),
                format!("`{name}` is not `none`, `api_keys`, `gitlab` or `oidc`"),
            ),
        }
    }
    if modes.contains(&AuthMode::None) {
        if modes.len() > 1 {
            p(
                "auth.mode".into(),
                "`none` cannot be combined with other modes".into(),
            );
        }
        modes.retain(|m| *m != AuthMode::None);
    }
    modes.sort();
    modes
}

/// A mode's own table: required when the mode is on, a mistake when it is not.
fn section<R>(
    on: bool,
    raw: Option<R>,
    name: &str,
    p: &mut impl FnMut(String, String),
) -> Option<R> {
    match (on, raw) {
        (true, Some(raw)) => Some(raw),
        (true, None) => {
            p(
                format!("auth.{name}"),
                format!("`mode` includes `{name}`, which needs an `[auth.{name}]` table"),
            );
            None
        }
        (false, Some(_)) => {
            p(
                format!("auth.{name}"),
                format!("is set but `mode` does not include `{name}`"),
            );
            None
        }
        (false, None) => None,
    }
}

/// Safe by default: a listener that other machines can reach needs authentication, or the
/// admin's explicit word that anonymous callers are fine. The message names both ways out.
pub fn check_exposure(listen: SocketAddr, auth: &AuthSettings) -> Result<(), String> {
    if listen.ip().is_loopback() || auth.is_on() || auth.allow_anonymous {
        return Ok(());
    }
    Err(format!(
        "refusing to serve {listen} without authentication: any machine that can reach it \
         could use every model. Either turn on API keys (`[auth] mode = \"api_keys\"`, then \
         `devassist keys create --name NAME`) or tokens (`mode = \"gitlab\"` or `\"oidc\"`), \
         or accept anonymous callers explicitly (`[auth] allow_anonymous = true`). See \
         docs/security.md."
    ))
}

#[cfg(test)]
mod tests;
