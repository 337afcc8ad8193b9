//! `[auth.gitlab]` and `[auth.oidc]`: the token modes' settings. GitLab's tokens are RS256
//! with audience `gitlab-ai-gateway`, signed by the instance (its keys from OIDC discovery)
//! or by this gateway (the IDE tokens of `POST /v1/code/user_access_token`); OIDC tokens come
//! from the company's identity provider, and its groups map to policies like an API key's.
//! Keys are checked here, so `devassist config check` names a bad PEM file.

use super::secret::{self, Secret};
use super::validate::duration;
use devassist_core::{CallerLimits, Feature, TokenBudget};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The `[auth.gitlab]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawGitLabAuth {
    /// The GitLab instance (`https://gitlab.example.com`): its keys come from
    /// `<url>/.well-known/openid-configuration` → `jwks_uri`. Required.
    pub url: Option<String>,
    /// PEM RSA private key (`file:PATH` or `env:NAME`) that signs the IDE tokens of
    /// `POST /v1/code/user_access_token`; its public half verifies them. GitLab's gateway
    /// calls it `AIGW_SELF_SIGNED_JWT__SIGNING_KEY`. Default: none (that endpoint answers 500).
    pub signing_key: Option<String>,
    /// More PEM keys (`file:` / `env:`, private or public RSA) whose public halves verify
    /// tokens: the previous signing key while IDE tokens it signed are still live.
    #[serde(default)]
    pub validation_keys: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`. Default `30s` (GitLab's gateway: none).
    pub leeway: Option<String>,
    /// How long fetched keys are used before they are fetched again. Default `1h`.
    pub jwks_ttl: Option<String>,
    /// Shortest time between two fetches for a token whose `kid` is unknown. Default `30s`.
    pub jwks_refetch_interval: Option<String>,
}

/// The `[auth.oidc]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawOidc {
    /// The identity provider's issuer, exactly as in its tokens' `iss`. Required.
    pub issuer: Option<String>,
    /// Where its keys are. Default: `jwks_uri` from `<issuer>/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// The `aud` tokens for devassist carry (a client id): one or a list. Required.
    pub audience: Option<RawStrings>,
    /// Signature algorithms accepted: `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`,
    /// `ES256`, `ES384`, `EdDSA`. Never `none` or `HS*`. Default `["RS256"]`.
    pub algorithms: Option<Vec<String>>,
    /// The claim that names the user (`email`, `preferred_username`). Default `sub`.
    pub user_claim: Option<String>,
    /// The claim that lists the user's groups. Default `groups`.
    pub groups_claim: Option<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`. Default `30s`.
    pub leeway: Option<String>,
    /// How long fetched keys are used before they are fetched again. Default `1h`.
    pub jwks_ttl: Option<String>,
    /// Shortest time between two fetches for a token whose `kid` is unknown. Default `30s`.
    pub jwks_refetch_interval: Option<String>,
    /// Group name → what its members may do; `"*"` applies to every user with a valid token.
    #[serde(default)]
    pub groups: BTreeMap<String, RawGroupPolicy>,
}

/// `"aud"` or `["aud1", "aud2"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStrings {
    One(String),
    Many(Vec<String>),
}

/// `[auth.oidc.groups.NAME]`: the same policy an API key has.
#[derive(Debug, Default, Deserialize)]
pub struct RawGroupPolicy {
    /// Models the group may use. Default: every model.
    pub models: Option<Vec<String>>,
    /// Features the group may use (`code_completion`, `chat`…). Default: every feature.
    pub features: Option<Vec<String>>,
    /// Members may read `/status` and `/metrics`, manage keys and Ollama models. Default false.
    pub admin: Option<bool>,
    /// Requests per minute, per user. Default: no limit.
    pub rpm: Option<u32>,
    /// Tokens per minute, per user. Default: no limit.
    pub tpm: Option<u32>,
    /// Requests in progress at once, per user. Default: no limit.
    pub max_parallel: Option<u32>,
    /// Tokens per `budget_period`, per user. Default: no budget.
    pub token_budget: Option<u64>,
    /// The budget's period (`30d`). Required with `token_budget`.
    pub budget_period: Option<String>,
}

/// Timing shared by both token modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtTiming {
    pub leeway: Duration,
    pub jwks_ttl: Duration,
    pub refetch_interval: Duration,
}

impl Default for JwtTiming {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(30),
            jwks_ttl: Duration::from_secs(3600),
            refetch_interval: Duration::from_secs(30),
        }
    }
}

/// Validated `[auth.gitlab]`.
#[derive(Debug, Clone)]
pub struct GitLabAuthSettings {
    /// Without a trailing slash.
    pub url: String,
    pub signing_key: Option<Secret>,
    pub validation_keys: Vec<Secret>,
    pub timing: JwtTiming,
}

/// Validated `[auth.oidc]`.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub jwks_url: Option<String>,
    pub audience: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub user_claim: String,
    pub groups_claim: String,
    pub timing: JwtTiming,
    pub groups: BTreeMap<String, GroupPolicy>,
}

/// What members of a group may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPolicy {
    pub models: Option<Vec<String>>,
    pub features: Option<Vec<Feature>>,
    pub admin: bool,
    pub limits: CallerLimits,
}

/// The algorithms `[auth.oidc] algorithms` may name: asymmetric ones only, so a public key
/// can never be used as an HMAC secret.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn timing(
    leeway: Option<&str>,
    ttl: Option<&str>,
    refetch: Option<&str>,
    at: &str,
    p: &mut impl FnMut(String, String),
) -> JwtTiming {
    let d = JwtTiming::default();
    JwtTiming {
        leeway: duration(leeway, &format!("{at}.leeway"), d.leeway, p),
        jwks_ttl: duration(ttl, &format!("{at}.jwks_ttl"), d.jwks_ttl, p),
        refetch_interval: duration(
            refetch,
            &format!("{at}.jwks_refetch_interval"),
            d.refetch_interval,
            p,
        ),
    }
}

/// An `http(s)://` URL without a trailing slash.
fn url(raw: Option<String>, at: &str, p: &mut impl FnMut(String, String)) -> Option<String> {
    let Some(raw) = raw.filter(|u| !u.trim().is_empty()) else {
        p(at.into(), "is required".into());
        return None;
    };
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            Some(raw.trim_end_matches('/').to_owned())
        }
        _ => {
            p(at.into(), format!("`{raw}` is not an http(s) URL"));
            None
        }
    }
}

pub fn validate_gitlab(
    raw: RawGitLabAuth,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut impl FnMut(String, String),
) -> Option<GitLabAuthSettings> {
    let url = url(raw.url, "auth.gitlab.url", p);
    let signing_key = raw.signing_key.and_then(|r| {
        let at = "auth.gitlab.signing_key";
        let key = secret::resolve(&r, env).map_err(|e| p(at.into(), e)).ok()?;
        if let Err(e) = EncodingKey::from_rsa_pem(key.expose().as_bytes()) {
            p(at.into(), format!("not an RSA private key in PEM: {e}"));
            return None;
        }
        Some(key)
    });
    let mut validation_keys = Vec::new();
    for (i, r) in raw.validation_keys.iter().enumerate() {
        let at = format!("auth.gitlab.validation_keys[{i}]");
        let Ok(key) = secret::resolve(r, env).map_err(|e| p(at.clone(), e)) else {
            continue;
        };
        if let Err(e) = rsa_public_half(key.expose()) {
            p(at, format!("not an RSA key in PEM: {e}"));
            continue;
        }
        validation_keys.push(key);
    }
    let timing = timing(
        raw.leeway.as_deref(),
        raw.jwks_ttl.as_deref(),
        raw.jwks_refetch_interval.as_deref(),
        "auth.gitlab",
        p,
    );
    Some(GitLabAuthSettings {
        url: url?,
        signing_key,
        validation_keys,
        timing,
    })
}

/// The key that verifies what a PEM RSA key (private or public) signs.
pub fn rsa_public_half(pem: &str) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    if pem.contains("PUBLIC KEY") {
        return DecodingKey::from_rsa_pem(pem.as_bytes());
    }
    let private = EncodingKey::from_rsa_pem(pem.as_bytes())?;
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&private, Algorithm::RS256)?;
    DecodingKey::from_jwk(&jwk)
}

pub fn validate_oidc(raw: RawOidc, p: &mut impl FnMut(String, String)) -> Option<OidcSettings> {
    let issuer = raw.issuer.filter(|i| !i.trim().is_empty());
    if issuer.is_none() {
        p(
            "auth.oidc.issuer".into(),
            "is required: the `iss` of your identity provider's tokens".into(),
        );
    }
    let jwks_url = match raw.jwks_url {
        Some(u) => Some(url(Some(u), "auth.oidc.jwks_url", p)?),
        None => None,
    };
    if jwks_url.is_none()
        && let Some(i) = &issuer
        && !(i.starts_with("https://") || i.starts_with("http://"))
    {
        p(
            "auth.oidc.issuer".into(),
            format!("`{i}` is not a URL to discover keys from; set `jwks_url`"),
        );
    }
    let audience = match raw.audience {
        Some(RawStrings::One(a)) => vec![a],
        Some(RawStrings::Many(list)) => list,
        None => Vec::new(),
    };
    if audience.iter().all(|a| a.trim().is_empty()) {
        p(
            "auth.oidc.audience".into(),
            "is required: the `aud` your identity provider puts in tokens for devassist".into(),
        );
    }
    let mut algorithms = Vec::new();
    for name in raw.algorithms.unwrap_or_else(|| vec!["RS256".into()]) {
        match name.parse::<Algorithm>() {
            Ok(a) if ASYMMETRIC.contains(&a) => algorithms.push(a),
            _ => p(
                "auth.oidc.algorithms".into(),
                format!(
                    "`{name}` is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, \
                     ES384, EdDSA (never `none` or HS*: a public key is not a secret)"
                ),
            ),
        }
    }
    if algorithms.is_empty() {
        p("auth.oidc.algorithms".into(), "needs at least one".into());
    }
    let mut groups = BTreeMap::new();
    for (name, g) in raw.groups {
        if let Some(policy) = group_policy(g, &format!("auth.oidc.groups.{name}"), p) {
            groups.insert(name, policy);
        }
    }
    let timing = timing(
        raw.leeway.as_deref(),
        raw.jwks_ttl.as_deref(),
        raw.jwks_refetch_interval.as_deref(),
        "auth.oidc",
        p,
    );
    Some(OidcSettings {
        issuer: issuer?,
        jwks_url,
        audience,
        algorithms,
        user_claim: raw.user_claim.unwrap_or_else(|| "sub".into()),
        groups_claim: raw.groups_claim.unwrap_or_else(|| "groups".into()),
        timing,
        groups,
    })
}

fn group_policy(
    raw: RawGroupPolicy,
    at: &str,
    p: &mut impl FnMut(String, String),
) -> Option<GroupPolicy> {
    let mut ok = true;
    let features = raw.features.map(|names| {
        names
            .iter()
            .filter_map(|n| {
                let f = Feature::parse(n);
                if f.is_none() {
                    ok = false;
                    p(format!("{at}.features"), format!("`{n}` is not a feature"));
                }
                f
            })
            .collect()
    });
    for (v, key) in [
        (raw.rpm, "rpm"),
        (raw.tpm, "tpm"),
        (raw.max_parallel, "max_parallel"),
    ] {
        if v == Some(0) {
            ok = false;
            p(format!("{at}.{key}"), "must be greater than 0".into());
        }
    }
    let period = raw
        .budget_period
        .as_deref()
        .map(|s| duration(Some(s), &format!("{at}.budget_period"), Duration::ZERO, p));
    let token_budget = match (raw.token_budget, period) {
        (Some(0), _) => {
            p(
                format!("{at}.token_budget"),
                "must be greater than 0".into(),
            );
            None
        }
        (Some(tokens), Some(period)) if !period.is_zero() => Some(TokenBudget { tokens, period }),
        (Some(_), _) => {
            p(
                format!("{at}.budget_period"),
                "is required with token_budget, and longer than 0 (e.g. `30d`)".into(),
            );
            None
        }
        (None, Some(_)) => {
            p(
                format!("{at}.token_budget"),
                "is required with budget_period".into(),
            );
            None
        }
        (None, None) => None,
    };
    ok.then(|| GroupPolicy {
        models: raw.models,
        features,
        admin: raw.admin.unwrap_or(false),
        limits: CallerLimits {
            rpm: raw.rpm,
            tpm: raw.tpm,
            max_parallel: raw.max_parallel,
            token_budget,
        },
    })
}
