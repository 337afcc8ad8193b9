//! Who is calling: the identity the gateway's authentication attached to a request, and
//! what that caller may use. Set once by the server's auth layer and carried on the
//! [`crate::CallContext`], so the guard stage, usage records and metrics all read the same
//! answer. Plain data: checking credentials and counting limits live in the server.

use crate::Feature;
use std::time::Duration;

/// How the caller was identified. Closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// Authentication is off and the gateway listens on loopback only: the operator's own
    /// machine, trusted as before authentication existed.
    Local,
    /// No credentials, admitted because `[auth] allow_anonymous = true`.
    Anonymous,
    /// An API key ("virtual key") from the gateway's key store.
    ApiKey,
    /// A JWT from GitLab: an instance's token, or an IDE token this gateway minted.
    GitLab,
    /// A JWT from the company's OpenID Connect identity provider.
    Oidc,
}

impl CallerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Local => "local",
            CallerKind::Anonymous => "anonymous",
            CallerKind::ApiKey => "api_key",
            CallerKind::GitLab => "gitlab",
            CallerKind::Oidc => "oidc",
        }
    }
}

/// Limits on one caller's use; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerLimits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens (prompt + completion) per minute, counted when each answer finishes.
    pub tpm: Option<u32>,
    /// Requests in progress at once.
    pub max_parallel: Option<u32>,
    /// Tokens allowed per period, counted when each answer finishes.
    pub token_budget: Option<TokenBudget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBudget {
    pub tokens: u64,
    pub period: Duration,
}

/// The authenticated caller. Cheap to share behind an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Stable id for usage and per-caller limits: the API key's public id (`dak_…`),
    /// `oidc:<user>`, `gitlab:<instance id>`, or `local` / `anonymous`.
    pub id: String,
    /// A human name (the key's `--name`, the token's user), for logs and usage tables.
    pub name: String,
    pub kind: CallerKind,
    /// The person a token was issued for (the OIDC user claim, GitLab's global user id);
    /// `None` for API keys, the local operator and anonymous callers.
    pub user: Option<String>,
    /// The identity provider's groups the caller is in (OIDC), for messages and logs.
    pub groups: Vec<String>,
    /// May read `/status` and `/metrics` in full, manage keys and manage Ollama models.
    pub admin: bool,
    /// Models this caller may use, by configured name; `None`: every model.
    pub models: Option<Vec<String>>,
    /// Features this caller may use; `None`: every feature.
    pub features: Option<Vec<Feature>>,
    pub limits: CallerLimits,
}

impl Caller {
    /// The operator on a loopback-only gateway without authentication.
    pub fn local() -> Self {
        Self::unrestricted("local", CallerKind::Local, true)
    }

    /// A caller without credentials on a gateway that admits them.
    pub fn anonymous() -> Self {
        Self::unrestricted("anonymous", CallerKind::Anonymous, false)
    }

    fn unrestricted(id: &str, kind: CallerKind, admin: bool) -> Self {
        Self {
            id: id.to_owned(),
            name: id.to_owned(),
            kind,
            user: None,
            groups: Vec::new(),
            admin,
            models: None,
            features: None,
            limits: CallerLimits::default(),
        }
    }

    /// Whether the caller may use the model configured as `name` (compared
    /// case-insensitively, as model names are).
    pub fn may_use_model(&self, name: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|allowed| allowed.eq_ignore_ascii_case(name)))
    }

    pub fn may_use_feature(&self, feature: Feature) -> bool {
        self.features.as_ref().is_none_or(|f| f.contains(&feature))
    }

    /// Who this is, for refusals and logs: ``API key `ci` (dak_…)``, ``user `ana@corp`
    /// (groups: dev)``.
    pub fn describe(&self) -> String {
        match self.kind {
            CallerKind::ApiKey => format!("API key `{}` ({})", self.name, self.id),
            CallerKind::Oidc if self.groups.is_empty() => format!("user `{}`", self.name),
            CallerKind::Oidc => {
                format!("user `{}` (groups: {})", self.name, self.groups.join(", "))
            }
            CallerKind::GitLab => format!("GitLab token `{}` ({})", self.name, self.id),
            CallerKind::Local | CallerKind::Anonymous => format!("the {} caller", self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_restrict_and_absence_allows_everything() {
        let mut c = Caller::anonymous();
        assert!(c.may_use_model("any") && c.may_use_feature(Feature::Chat));
        c.models = Some(vec!["Codestral:22b".into()]);
        c.features = Some(vec![Feature::CodeCompletion]);
        assert!(c.may_use_model("codestral:22B"));
        assert!(!c.may_use_model("llama"));
        assert!(c.may_use_feature(Feature::CodeCompletion));
        assert!(!c.may_use_feature(Feature::Chat));
        assert!(Caller::local().admin && !Caller::anonymous().admin);
    }
}
