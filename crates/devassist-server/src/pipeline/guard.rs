//! The guard stage: whether this caller may use this model for this feature, and whether
//! its limits let it in now. After routing and before the pool, so that no surface can skip
//! it. It enforces the admin's feature switches (403), the caller's allowed models and
//! features (403 naming what is missing), and its limits (429 with `Retry-After`). The
//! caller comes from the auth layer on the `CallContext`; route-level checks (admin routes,
//! model management) are the auth layer's (`auth/`).

use crate::auth::limits::Admission;
use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_core::{CallContext, Caller, Event, EventStream, Feature, GatewayError};
use futures::StreamExt;

impl Gateway {
    /// Admits the request, or says why not. The returned admission holds the caller's
    /// place among its requests in progress and counts the answer's tokens: keep it for as
    /// long as the answer runs ([`meter`]).
    pub async fn admit(
        &self,
        ctx: &CallContext,
        route: &ModelEntry,
        feature: Feature,
    ) -> Result<Admission, GatewayError> {
        super::observe::admitted(ctx, feature, &self.telemetry.metrics.labels, route.name());
        self.check_feature(feature)?;
        let Some(caller) = ctx.caller.as_deref() else {
            if self.auth.is_on() {
                // A surface that built its context without the request's identity.
                return Err(GatewayError::unauthorized(
                    "no credentials reached the gateway",
                ));
            }
            return Ok(Admission::default());
        };
        check_caller(caller, route, feature)?;
        self.auth.limiters.admit(caller).await
    }

    /// The caller's permission for this model and feature, without taking a place or
    /// counting against its limits: for requests that run no model (counting tokens).
    pub fn permit(
        &self,
        ctx: &CallContext,
        route: &ModelEntry,
        feature: Feature,
    ) -> Result<(), GatewayError> {
        self.check_feature(feature)?;
        match ctx.caller.as_deref() {
            Some(caller) => check_caller(caller, route, feature),
            None if self.auth.is_on() => Err(GatewayError::unauthorized(
                "no credentials reached the gateway",
            )),
            None => Ok(()),
        }
    }

    /// The caller's feature permission alone, for surfaces that use no model (docs search).
    pub fn admit_feature(&self, ctx: &CallContext, feature: Feature) -> Result<(), GatewayError> {
        self.check_feature(feature)?;
        match ctx.caller.as_deref() {
            Some(caller) if !caller.may_use_feature(feature) => {
                Err(feature_refused(caller, feature))
            }
            None if self.auth.is_on() => Err(GatewayError::unauthorized(
                "no credentials reached the gateway",
            )),
            _ => Ok(()),
        }
    }
}

fn who(caller: &Caller) -> String {
    caller.describe()
}

fn feature_refused(caller: &Caller, feature: Feature) -> GatewayError {
    let allowed: Vec<&str> = caller
        .features
        .iter()
        .flatten()
        .map(|f| f.as_str())
        .collect();
    GatewayError::forbidden(format!(
        "{} may not use the {feature} feature (it may use: {})",
        who(caller),
        allowed.join(", ")
    ))
}

/// 403 naming the model or feature the caller lacks.
fn check_caller(caller: &Caller, route: &ModelEntry, feature: Feature) -> Result<(), GatewayError> {
    if !caller.may_use_feature(feature) {
        return Err(feature_refused(caller, feature));
    }
    if !may_use(caller, route) {
        return Err(model_refused(caller, route));
    }
    Ok(())
}

/// Whether `caller` may use `model`, by its name or one of its aliases. Also what the model
/// lists (`/api/tags`, `/v1/models`) show a caller: only what it may use.
pub fn may_use(caller: &Caller, model: &ModelEntry) -> bool {
    let m = &model.settings;
    caller.may_use_model(&m.name) || m.aliases.iter().any(|a| caller.may_use_model(a))
}

/// 403 naming the model and what the caller may use instead.
pub fn model_refused(caller: &Caller, model: &ModelEntry) -> GatewayError {
    let list = caller.models.iter().flatten().cloned().collect::<Vec<_>>();
    GatewayError::forbidden(format!(
        "{} may not use model `{}` (it may use: {})",
        who(caller),
        model.settings.name,
        list.join(", ")
    ))
    .with_param("model")
}

/// The model `requested` names, if the caller may use it: for the routes that describe one
/// model (`/api/show`, `/v1/models/{id}`). No caller: authentication is off.
pub fn resolve_visible(
    router: &crate::router::Router,
    caller: Option<&Caller>,
    requested: &str,
) -> Result<std::sync::Arc<ModelEntry>, GatewayError> {
    let m = router.resolve(requested)?;
    match caller {
        Some(c) if !may_use(c, &m) => Err(model_refused(c, &m)),
        _ => Ok(m),
    }
}

/// The answer's stream with its admission: the caller's place is held until the stream
/// ends or is dropped, and the final usage (prompt + completion tokens) is counted.
pub fn meter(first: &Event, rest: EventStream, admission: Admission) -> EventStream {
    if !admission.counts_tokens() && !admission.holds_place() {
        return rest;
    }
    spend_done(first, &admission);
    rest.map(move |item| {
        if let Ok(event) = &item {
            spend_done(event, &admission);
        }
        item
    })
    .boxed()
}

fn spend_done(event: &Event, admission: &Admission) {
    if let Event::Done { usage, .. } = event {
        admission.spend(u64::from(usage.prompt_tokens) + u64::from(usage.completion_tokens));
    }
}
