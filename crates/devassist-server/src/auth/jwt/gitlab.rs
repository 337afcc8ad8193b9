//! GitLab's tokens, as GitLab's AI Gateway checks them (reference §4): `Authorization: Bearer
//! <JWT>` with `X-Gitlab-Authentication-Type: oidc`, RS256, audience `gitlab-ai-gateway`,
//! signed by the instance (keys from its OIDC discovery) or by this gateway (the IDE tokens
//! [`GitLab::mint`] makes for `POST /v1/code/user_access_token`). Then the `X-Gitlab-*`
//! headers must match the claims, and each route needs its unit primitive in `scopes`
//! ([`authorize_route`]). Refusals use GitLab's exact words; why a token failed goes to the
//! log only, as in GitLab.

use super::jwks::{HttpSource, Jwks};
use super::{KeyOrigin, KeyRing, LocalKey, TokenError, validation};
use crate::config::auth_tokens::{GitLabAuthSettings, rsa_public_half};
use axum::http::HeaderMap;
use devassist_core::{Caller, CallerKind, CallerLimits, Feature, GatewayError};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation, encode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The audience of every token for an AI Gateway, and the issuer of the ones it mints.
pub const AUDIENCE: &str = "gitlab-ai-gateway";
pub const SELF_ISSUER: &str = "gitlab-ai-gateway";
/// The `kid`s of the gateway's own keys (GitLab's names).
pub const SIGNING_KID: &str = "gitlab_ai_gateway_signing_key";
pub const VALIDATION_KID: &str = "gitlab_ai_gateway_validation_key";
/// How long a minted IDE token lives.
const IDE_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// GitLab's 401 texts (reference §4.1).
pub const NO_HEADER: &str = "No authorization header presented";
pub const BAD_HEADER: &str = "Invalid authorization header";
pub const BAD_TYPE: &str = "Invalid authentication token type - only OIDC is supported";
pub const FORBIDDEN: &str = "Forbidden by auth provider";

pub const TYPE_HEADER: &str = "x-gitlab-authentication-type";
pub const REALM_HEADER: &str = "X-Gitlab-Realm";
pub const INSTANCE_HEADER: &str = "X-Gitlab-Instance-Id";
pub const USER_HEADER: &str = "X-Gitlab-Global-User-Id";

/// What a verified GitLab token allows, on the request's extensions for the route check and
/// the handlers that look further (the IDE token endpoint, `/v2/chat/agent`'s contexts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub issuer: String,
    /// Unit primitives (`complete_code`, `duo_chat`…).
    pub scopes: Vec<String>,
    /// `duo_seat_count`, as a string, when the token has one.
    pub duo_seat_count: Option<String>,
}

impl Grant {
    /// An IDE token this (or another) AI Gateway minted.
    pub fn gateway_minted(&self) -> bool {
        self.issuer == SELF_ISSUER
    }

    /// GitLab's `can(unit_primitive, disallowed_issuers)`.
    pub fn can(&self, unit_primitive: &str, gateway_tokens_allowed: bool) -> bool {
        self.scopes.iter().any(|s| s == unit_primitive)
            && (gateway_tokens_allowed || !self.gateway_minted())
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    gitlab_realm: Option<String>,
    #[serde(default)]
    gitlab_instance_id: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    duo_seat_count: Option<serde_json::Value>,
}

/// The devassist feature a unit primitive unlocks. Chat invokables other than `duo_chat`
/// (`explain_vulnerability`…) are answered by the chat model, so they unlock chat too.
pub fn feature_of(unit_primitive: &str) -> Option<Feature> {
    Some(match unit_primitive {
        "complete_code" => Feature::CodeCompletion,
        "generate_code" => Feature::CodeGeneration,
        "duo_chat"
        | "explain_code"
        | "write_tests"
        | "refactor_code"
        | "explain_vulnerability"
        | "summarize_comments"
        | "troubleshoot_job" => Feature::Chat,
        "documentation_search" => Feature::DocsSearch,
        _ => return None,
    })
}

/// The GitLab token verifier, and the signer of IDE tokens.
pub struct GitLab {
    keys: KeyRing,
    signing: Option<EncodingKey>,
    validation: Validation,
}

impl GitLab {
    /// From `[auth.gitlab]`: the configured keys, and a tracked task that keeps the
    /// instance's keys.
    pub fn new(
        settings: &GitLabAuthSettings,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, String> {
        let kids = vec![SIGNING_KID.to_owned(), VALIDATION_KID.to_owned()];
        let mut local = Vec::new();
        let mut signing = None;
        if let Some(pem) = &settings.signing_key {
            let pem = pem.expose();
            signing = Some(
                EncodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| format!("auth.gitlab.signing_key: {e}"))?,
            );
            local.push(LocalKey {
                kids: kids.clone(),
                key: rsa_public_half(pem).map_err(|e| format!("auth.gitlab.signing_key: {e}"))?,
            });
        }
        for (i, pem) in settings.validation_keys.iter().enumerate() {
            local.push(LocalKey {
                kids: kids.clone(),
                key: rsa_public_half(pem.expose())
                    .map_err(|e| format!("auth.gitlab.validation_keys[{i}]: {e}"))?,
            });
        }
        let provider = Jwks::start(
            Box::new(HttpSource::discovery(&settings.url)),
            settings.timing.jwks_ttl,
            settings.timing.refetch_interval,
            tasks,
            cancel,
        );
        let mut validation = validation(&[Algorithm::RS256], settings.timing.leeway);
        validation.set_audience(&[AUDIENCE]);
        Ok(Self {
            keys: KeyRing {
                local,
                provider: Some(provider),
            },
            signing,
            validation,
        })
    }

    /// Reference §4.1 steps 5–8: the token type, the token, the headers against its claims.
    pub async fn verify(
        &self,
        token: &str,
        headers: &HeaderMap,
    ) -> Result<(Caller, Grant), GatewayError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header(TYPE_HEADER) != Some("oidc") {
            return Err(GatewayError::unauthorized(BAD_TYPE));
        }
        let (claims, origin) = self
            .keys
            .verify::<Claims>(token, &self.validation)
            .await
            .map_err(|e| refused(&e))?;
        if claims.iss == SELF_ISSUER && origin != KeyOrigin::Local {
            // Only this gateway's keys sign its IDE tokens.
            return Err(refused(&TokenError::Invalid(
                "a gateway-issued token not signed by this gateway's keys".into(),
            )));
        }
        let sub_header = if claims.iss == SELF_ISSUER {
            USER_HEADER
        } else {
            INSTANCE_HEADER
        };
        for (claim, name) in [
            (claims.gitlab_realm.as_deref(), REALM_HEADER),
            (claims.gitlab_instance_id.as_deref(), INSTANCE_HEADER),
            (Some(claims.sub.as_str()), sub_header),
        ] {
            if let Some(value) = claim.filter(|v| !v.is_empty())
                && header(name) != Some(value)
            {
                return Err(GatewayError::unauthorized(format!(
                    "Header mismatch '{name}'"
                )));
            }
        }
        let duo_seat_count = claims.duo_seat_count.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if let (Some(claimed), Some(sent)) = (&duo_seat_count, header("x-gitlab-duo-seat-count"))
            && claimed != sent
        {
            tracing::info!(
                claimed,
                sent,
                "X-Gitlab-Duo-Seat-Count does not match the token"
            );
        }
        let grant = Grant {
            issuer: claims.iss.clone(),
            scopes: claims.scopes,
            duo_seat_count,
        };
        let instance = claims
            .gitlab_instance_id
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| claims.sub.clone());
        let user = if grant.gateway_minted() {
            Some(claims.sub)
        } else {
            header(USER_HEADER).map(str::to_owned)
        };
        let mut features: Vec<Feature> =
            grant.scopes.iter().filter_map(|s| feature_of(s)).collect();
        features.sort_by_key(|f| f.as_str());
        features.dedup();
        let caller = Caller {
            id: format!("gitlab:{instance}"),
            name: claims.iss,
            kind: CallerKind::GitLab,
            user,
            groups: Vec::new(),
            admin: false,
            models: None,
            features: Some(features),
            limits: CallerLimits::default(),
        };
        Ok((caller, grant))
    }

    /// An IDE token for `user` (reference §4.3): RS256 with the signing key, for one hour,
    /// `complete_code` only. `Err` when no signing key is configured or signing fails.
    pub fn mint(
        &self,
        grant: &Grant,
        user: &str,
        realm: &str,
        instance: &str,
    ) -> Result<(String, u64), String> {
        #[derive(Serialize)]
        struct Minted<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: u64,
            nbf: u64,
            iat: u64,
            jti: String,
            gitlab_realm: &'a str,
            gitlab_instance_id: &'a str,
            scopes: [&'a str; 1],
            #[serde(skip_serializing_if = "Option::is_none")]
            duo_seat_count: Option<&'a str>,
        }
        let key = self
            .signing
            .as_ref()
            .ok_or("no `[auth.gitlab] signing_key` is configured")?;
        let now = jsonwebtoken::get_current_timestamp();
        let exp = now + IDE_TOKEN_LIFETIME.as_secs();
        let claims = Minted {
            iss: SELF_ISSUER,
            sub: user,
            aud: AUDIENCE,
            exp,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            gitlab_realm: realm,
            gitlab_instance_id: instance,
            scopes: ["complete_code"],
            duo_seat_count: grant
                .duo_seat_count
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(SIGNING_KID.to_owned());
        let token = encode(&header, &claims, key).map_err(|e| e.to_string())?;
        Ok((token, exp))
    }
}

/// GitLab's one answer for any token that fails verification; the reason is logged.
fn refused(why: &TokenError) -> GatewayError {
    tracing::info!(reason = %why, "GitLab token refused");
    GatewayError::unauthorized(FORBIDDEN)
}

/// What a route needs from a GitLab token (reference §2, §4.2).
struct Requirement {
    unit_primitive: String,
    gateway_tokens: bool,
    refusal: String,
}

fn requirement(path: &str) -> Option<Requirement> {
    let need = |up: &str, gateway_tokens: bool, refusal: &str| {
        Some(Requirement {
            unit_primitive: up.to_owned(),
            gateway_tokens,
            refusal: refusal.to_owned(),
        })
    };
    match path {
        "/v2/code/completions" | "/v2/completions" => need(
            "complete_code",
            true,
            "Unauthorized to access code completions",
        ),
        "/v2/code/generations" => need(
            "generate_code",
            false,
            "Unauthorized to access code generations",
        ),
        "/v3/code/completions" | "/v4/code/suggestions" => need(
            "complete_code",
            false,
            "Unauthorized to access code suggestions",
        ),
        "/v2/chat/agent" => need("duo_chat", true, "Unauthorized to access duo chat"),
        "/v1/search/gitlab-docs" => need(
            "documentation_search",
            true,
            "Unauthorized to search documentations",
        ),
        "/v1/code/user_access_token" => need(
            "complete_code",
            false,
            "Unauthorized to create user access token for code suggestions",
        ),
        _ => {
            let invokable = path.strip_prefix("/v1/chat/")?;
            let up = match invokable {
                "explain_code" | "write_tests" | "refactor_code" | "agent" => "duo_chat",
                "explain_vulnerability" | "summarize_comments" | "troubleshoot_job" => invokable,
                // An unknown invokable is the handler's 404.
                _ => return None,
            };
            need(up, true, &format!("Unauthorized to access {up}"))
        }
    }
}

/// The route-level check of a GitLab token: its unit primitive for GitLab's routes (403 in
/// GitLab's words), and IDE tokens only where GitLab takes them (`/v2/completions`,
/// `/v2/code/completions`). Other routes check the features its scopes unlock, in the guard.
pub fn authorize_route(grant: &Grant, path: &str) -> Result<(), GatewayError> {
    match requirement(path) {
        Some(r) if grant.can(&r.unit_primitive, r.gateway_tokens) => Ok(()),
        Some(r) => Err(GatewayError::forbidden(r.refusal)),
        None if grant.gateway_minted() => Err(GatewayError::forbidden(format!(
            "{path} does not take IDE tokens minted by an AI gateway; they are for \
             /v2/completions and /v2/code/completions"
        ))),
        None => Ok(()),
    }
}
