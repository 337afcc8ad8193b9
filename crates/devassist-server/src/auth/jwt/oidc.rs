//! JWTs from the company's OpenID Connect identity provider (`[auth.oidc]`): issuer,
//! audience, the configured asymmetric algorithms, keys from its JWKS. The user is a claim
//! (`sub`, `email`…), and the groups claim picks the policies: a user in several groups gets
//! the union of their models and features, admin if any group is, and for each limit the
//! most generous one (no limit beats any limit). Limits count per user.

use super::jwks::{HttpSource, Jwks};
use super::{KeyRing, TokenError, validation};
use crate::config::auth_tokens::{GroupPolicy, OidcSettings};
use devassist_core::{Caller, CallerKind, CallerLimits, GatewayError, TokenBudget};
use jsonwebtoken::Validation;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The group name whose policy every user with a valid token gets.
pub const EVERYONE: &str = "*";

pub struct Oidc {
    pub issuer: String,
    user_claim: String,
    groups_claim: String,
    groups: BTreeMap<String, GroupPolicy>,
    keys: KeyRing,
    validation: Validation,
}

impl Oidc {
    /// From `[auth.oidc]`, with a tracked task that keeps the provider's keys.
    pub fn new(settings: &OidcSettings, tasks: &TaskTracker, cancel: &CancellationToken) -> Self {
        let source = match &settings.jwks_url {
            Some(url) => HttpSource::Jwks(url.clone()),
            None => HttpSource::discovery(&settings.issuer),
        };
        let provider = Jwks::start(
            Box::new(source),
            settings.timing.jwks_ttl,
            settings.timing.refetch_interval,
            tasks,
            cancel,
        );
        let mut validation = validation(&settings.algorithms, settings.timing.leeway);
        validation.set_audience(&settings.audience);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        Self {
            issuer: settings.issuer.clone(),
            user_claim: settings.user_claim.clone(),
            groups_claim: settings.groups_claim.clone(),
            groups: settings.groups.clone(),
            keys: KeyRing {
                local: Vec::new(),
                provider: Some(provider),
            },
            validation,
        }
    }

    /// The caller a token names, 401 saying why it is not valid, or 403 when none of the
    /// user's groups has a policy here.
    pub async fn verify(&self, token: &str) -> Result<Caller, GatewayError> {
        let (claims, _) = self
            .keys
            .verify::<Map<String, Value>>(token, &self.validation)
            .await
            .map_err(|e: TokenError| {
                tracing::info!(reason = %e, "OIDC token refused");
                GatewayError::unauthorized(format!("invalid token: {e}"))
            })?;
        let user = match claims.get(&self.user_claim) {
            Some(Value::String(u)) if !u.is_empty() => u.clone(),
            _ => {
                return Err(GatewayError::unauthorized(format!(
                    "invalid token: {}",
                    TokenError::MissingClaim(self.user_claim.clone())
                )));
            }
        };
        let groups: Vec<String> = match claims.get(&self.groups_claim) {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let matched: Vec<(&String, &GroupPolicy)> = self
            .groups
            .iter()
            .filter(|(name, _)| name.as_str() == EVERYONE || groups.contains(name))
            .collect();
        if matched.is_empty() {
            return Err(GatewayError::forbidden(format!(
                "user `{user}` is in no group that may use this gateway (their groups: {})",
                if groups.is_empty() {
                    "none".to_owned()
                } else {
                    groups.join(", ")
                }
            )));
        }
        let policy = union(matched.iter().map(|(_, p)| *p));
        Ok(Caller {
            id: format!("oidc:{user}"),
            name: user.clone(),
            kind: CallerKind::Oidc,
            user: Some(user),
            groups: matched
                .iter()
                .map(|(n, _)| (*n).clone())
                .filter(|n| n != EVERYONE)
                .collect(),
            admin: policy.admin,
            models: policy.models,
            features: policy.features,
            limits: policy.limits,
        })
    }
}

/// `None` (everything / no limit) if any list is `None`, else all of them together.
fn union_lists<T: Clone + PartialEq>(lists: &[Option<&Vec<T>>]) -> Option<Vec<T>> {
    let mut out = Vec::new();
    for list in lists {
        for item in (*list)? {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
    }
    Some(out)
}

/// The most generous of each limit: unlimited if any policy is.
fn most<T: Copy>(values: impl Iterator<Item = Option<T>>, better: impl Fn(T, T) -> T) -> Option<T> {
    let mut best: Option<T> = None;
    for v in values {
        let v = v?;
        best = Some(best.map_or(v, |b| better(b, v)));
    }
    best
}

/// One policy from several groups' (see the module's comment).
pub fn union<'a>(policies: impl Iterator<Item = &'a GroupPolicy> + Clone) -> GroupPolicy {
    let all: Vec<&GroupPolicy> = policies.collect();
    let budget_rate = |b: TokenBudget| b.tokens as f64 / b.period.as_secs_f64().max(1.0);
    GroupPolicy {
        models: union_lists(&all.iter().map(|p| p.models.as_ref()).collect::<Vec<_>>()),
        features: union_lists(&all.iter().map(|p| p.features.as_ref()).collect::<Vec<_>>()),
        admin: all.iter().any(|p| p.admin),
        limits: CallerLimits {
            rpm: most(all.iter().map(|p| p.limits.rpm), u32::max),
            tpm: most(all.iter().map(|p| p.limits.tpm), u32::max),
            max_parallel: most(all.iter().map(|p| p.limits.max_parallel), u32::max),
            token_budget: most(all.iter().map(|p| p.limits.token_budget), |a, b| {
                if budget_rate(b) > budget_rate(a) {
                    b
                } else {
                    a
                }
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devassist_core::Feature;
    use std::time::Duration;

    #[test]
    fn several_groups_give_the_union_and_the_most_generous_limits() {
        let dev = GroupPolicy {
            models: Some(vec!["codestral".into()]),
            features: Some(vec![Feature::CodeCompletion]),
            limits: CallerLimits {
                rpm: Some(60),
                tpm: None,
                max_parallel: Some(2),
                token_budget: Some(TokenBudget {
                    tokens: 1000,
                    period: Duration::from_secs(86400),
                }),
            },
            ..GroupPolicy::default()
        };
        let ml = GroupPolicy {
            models: Some(vec!["llama".into(), "codestral".into()]),
            features: Some(vec![Feature::Chat]),
            limits: CallerLimits {
                rpm: Some(120),
                tpm: Some(5000),
                max_parallel: Some(1),
                token_budget: Some(TokenBudget {
                    tokens: 20000,
                    period: Duration::from_secs(30 * 86400),
                }),
            },
            ..GroupPolicy::default()
        };
        let u = union([&dev, &ml].into_iter());
        assert_eq!(u.models, Some(vec!["codestral".into(), "llama".into()]));
        assert_eq!(
            u.features,
            Some(vec![Feature::CodeCompletion, Feature::Chat])
        );
        assert!(!u.admin);
        assert_eq!(u.limits.rpm, Some(120));
        assert_eq!(u.limits.tpm, None, "one group without a tpm limit: none");
        assert_eq!(u.limits.max_parallel, Some(2));
        assert_eq!(
            u.limits.token_budget.unwrap().tokens,
            1000,
            "1000 a day beats 20000 a month"
        );

        let everyone = GroupPolicy::default();
        let u = union([&dev, &everyone].into_iter());
        assert_eq!(
            (u.models, u.features),
            (None, None),
            "a group without lists allows all"
        );
        assert_eq!(u.limits, CallerLimits::default());
        let ops = GroupPolicy {
            admin: true,
            ..dev.clone()
        };
        assert!(union([&dev, &ops].into_iter()).admin);
    }
}
