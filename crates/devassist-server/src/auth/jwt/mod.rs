//! JSON Web Tokens: what the GitLab ([`gitlab`]) and OIDC ([`oidc`]) verifiers share. All
//! parsing and signature checking is `jsonwebtoken`'s; this module picks the key (by `kid`,
//! from keys configured here and the provider's JWKS, [`jwks`]) and says why a token failed.
//! A token's embedded `jwk`/`jku` headers are never used: keys come from configuration and
//! the provider only.

pub mod gitlab;
pub mod jwks;
pub mod oidc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Whether a credential has a JWT's shape: three base64url parts (the last may be empty
/// only for `alg: none`, which is still a JWT, to be refused as one).
pub fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A token's `iss`, read WITHOUT verifying anything: only to choose the verifier, which
/// then checks it.
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token)
        .ok()
        .and_then(|c| c.iss)
}

/// Why a token was refused: for logs, and for the OIDC verifier's 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT that can be read: {0}")]
    Malformed(String),
    #[error("the token is signed with {0:?}, which is not accepted here")]
    Algorithm(Algorithm),
    #[error("no known key signed this token (kid {0})")]
    UnknownKey(String),
    #[error("the signature does not match")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::Signature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidAudience => TokenError::Audience,
            ErrorKind::InvalidIssuer => TokenError::Issuer,
            ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_)
            | ErrorKind::InvalidAlgorithmName => TokenError::Malformed(e.to_string()),
            _ => TokenError::Invalid(e.to_string()),
        }
    }
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Configured on this gateway.
    Local,
    /// The provider's JWKS.
    Provider,
}

/// A configured key and the `kid`s it answers to.
pub struct LocalKey {
    pub kids: Vec<String>,
    pub key: DecodingKey,
}

/// Keys a verifier trusts: configured ones, then the provider's.
pub struct KeyRing {
    pub local: Vec<LocalKey>,
    pub provider: Option<Arc<jwks::Jwks>>,
}

/// The claims every verified token must carry, beyond the caller's own.
#[derive(serde::Deserialize)]
struct Times {
    iat: Option<f64>,
}

impl KeyRing {
    /// Verifies `token` under `validation` (its algorithms, audience, issuer, leeway) and
    /// returns its claims and which kind of key signed it. `iat` is checked here (not in
    /// the future beyond the leeway), as `jsonwebtoken` checks only `exp` and `nbf`.
    pub async fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<(C, KeyOrigin), TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !validation.algorithms.contains(&header.alg) {
            return Err(TokenError::Algorithm(header.alg));
        }
        // `jsonwebtoken` wants every algorithm of a validation in the key's family: check
        // each key for the one algorithm this token names (and was just allowed).
        let mut validation = validation.clone();
        validation.algorithms = vec![header.alg];
        let local: Vec<&DecodingKey> = self
            .local
            .iter()
            .filter(|k| header.kid.as_ref().is_none_or(|kid| k.kids.contains(kid)))
            .map(|k| &k.key)
            .collect();
        let provider_keys = match (&self.provider, &header.kid) {
            (None, _) => Vec::new(),
            (Some(_), Some(_)) if !local.is_empty() => Vec::new(),
            (Some(p), Some(kid)) => p.key(kid).await.into_iter().collect(),
            (Some(p), None) => p.all().await,
        };
        let candidates = local.into_iter().map(|k| (KeyOrigin::Local, k)).chain(
            provider_keys
                .iter()
                .filter(|k| k.fits(header.alg))
                .map(|k| (KeyOrigin::Provider, &k.key)),
        );
        let mut last = TokenError::UnknownKey(header.kid.clone().unwrap_or_else(|| "none".into()));
        for (origin, key) in candidates {
            if key.family() != header.alg.family() {
                continue;
            }
            match decode::<serde_json::Value>(token, key, &validation) {
                Ok(data) => {
                    let times: Times = serde_json::from_value(data.claims.clone())
                        .map_err(|e| TokenError::Invalid(format!("bad `iat`: {e}")))?;
                    let now = jsonwebtoken::get_current_timestamp() as f64;
                    if times
                        .iat
                        .is_some_and(|iat| iat > now + validation.leeway as f64)
                    {
                        return Err(TokenError::IssuedInFuture);
                    }
                    let claims = serde_json::from_value(data.claims)
                        .map_err(|e| TokenError::Invalid(format!("claims: {e}")))?;
                    return Ok((claims, origin));
                }
                // Another key with this kid (a rotation's old and new key) may fit.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    last = TokenError::Signature;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last)
    }
}

/// The validation every token gets: these algorithms, `exp` required, `nbf` checked when
/// present, a leeway for clock skew.
pub fn validation(algorithms: &[Algorithm], leeway: Duration) -> Validation {
    let mut v = Validation::new(algorithms.first().copied().unwrap_or(Algorithm::RS256));
    v.algorithms = algorithms.to_vec();
    v.leeway = leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "aud"]);
    v
}
