//! The request pipeline: the one path every surface's request takes, and the only place
//! that decides anything about it. Surfaces translate their wire format into a neutral
//! request, ask [`Gateway::route`] for the model, and call [`Gateway::generate`] (or
//! `embed`, `manage`, `load`); they never pick a backend or touch the pool.
//!
//! The stages, in order, each in its own file:
//!
//! ```text
//! route ─► guard ─► pool ─► redact ─► prompt ─► backend ─► post-process ─► restore ─► stats ─► load time ─► deadline ─► first event ─► observe
//! route.rs guard.rs (pool/) redact.rs prompt.rs (backend) postprocess.rs (secrets/) (pool/tracked) load_time.rs deadline.rs first_event.rs observe.rs
//! ```
//!
//! Before all of them, `volatile.rs` removes the system-prompt lines that change on every
//! request (Claude Code's billing line), so backends' prefix caches and the affinity key
//! see the same prompt start on every turn.
//!
//! and around one try, `failover.rs` picks the replicas and decides whether a failed try
//! may go to the next one. `observe.rs` notes what the stages learn (model, backend,
//! tokens, timings) in the request's facts for metrics and usage records, and
//! `expanded.rs` the prompt and answer of a request that expanded logging covers.

mod deadline;
mod expanded;
mod failover;
mod first_event;
pub mod guard;
mod load_time;
mod observe;
pub mod postprocess;
pub mod prompt;
pub mod redact;
pub mod route;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_redact;
pub mod volatile;

pub use expanded::request_json;
pub use first_event::Started;
pub use prompt::PromptReport;
pub use redact::Redaction;
pub use route::Requested;

use crate::config::FeatureSettings;
use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_core::{
    CallContext, EmbedRequest, EmbedResponse, Feature, GatewayError, GenerateRequest, KeepAlive,
    ManageOp, RawResponse,
};
use futures::StreamExt;
use std::sync::Arc;
use tokio::time::Instant;

/// A deadline error for the feature, for surfaces that time a whole exchange themselves.
pub use deadline::exceeded as deadline_exceeded;

impl Gateway {
    /// Starts a generation on `route`'s model. The returned stream has already produced
    /// its first event, so errors before the first byte come back as `Err` and the surface
    /// can still pick the status code.
    ///
    /// The affinity key is derived from the start of the prompt (see
    /// [`Gateway::generate_with_affinity`]).
    pub async fn generate(
        &self,
        route: &ModelEntry,
        feature: Feature,
        mut req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
        volatile::strip(&self.volatile_lines, &mut req);
        let affinity = crate::pool::balance::affinity_key(&req);
        self.generate_with_affinity(route, feature, req, ctx, affinity)
            .await
    }

    /// `generate` with an explicit affinity key (a file path, a conversation id): requests
    /// with the same key go to the same replica while it is healthy, so its KV cache is
    /// reused.
    pub async fn generate_with_affinity(
        &self,
        route: &ModelEntry,
        feature: Feature,
        req: GenerateRequest,
        ctx: &CallContext,
        affinity: Option<String>,
    ) -> Result<Started, GatewayError> {
        let result = self.generation(route, feature, req, ctx, affinity).await;
        observe::outcome(result, ctx)
    }

    async fn generation(
        &self,
        route: &ModelEntry,
        feature: Feature,
        mut req: GenerateRequest,
        ctx: &CallContext,
        affinity: Option<String>,
    ) -> Result<Started, GatewayError> {
        // Already done when called from `generate`; finds nothing the second time.
        volatile::strip(&self.volatile_lines, &mut req);
        let admission = self.admit(ctx, route, feature).await?;
        route::check_capabilities(route, &req.model, &req)?;
        let f = self.features.get(feature);
        apply_defaults(f, &mut req);
        let deadline = f.timeout.map(|t| Instant::now() + t);
        let sources = match (&self.docs_settings.chat_index, feature) {
            (Some(index), Feature::Chat) if !ctx.no_grounding => {
                crate::grounding::ground(&self.docs, &self.docs_settings, index, &mut req).await?
            }
            _ => Vec::new(),
        };
        let work = self.first_that_answers(route, affinity.as_deref(), |index| {
            self.attempt(route, feature, index, req.clone(), ctx, deadline)
        });
        let mut started = match deadline {
            None => work.await,
            Some(at) => tokio::time::timeout_at(at, work)
                .await
                .unwrap_or_else(|_| Err(deadline::exceeded(feature))),
        }?;
        let rest = std::mem::replace(&mut started.rest, futures::stream::empty().boxed());
        started.rest = guard::meter(&started.first, rest, admission);
        if sources.is_empty() {
            return Ok(started);
        }
        let report = started.report;
        let stream = crate::grounding::list_sources(started.into_stream(), sources);
        let mut started = first_event::peek(stream).await?;
        started.report = report;
        Ok(started)
    }

    /// One try of a generation on backend `index`, up to its first event: the pipeline's
    /// stages from the pool on.
    async fn attempt(
        &self,
        route: &ModelEntry,
        feature: Feature,
        index: usize,
        mut req: GenerateRequest,
        ctx: &CallContext,
        deadline: Option<Instant>,
    ) -> Result<Started, GatewayError> {
        let slot = self
            .pool
            .slots()
            .get(index)
            .cloned()
            .ok_or_else(|| GatewayError::internal(format!("no backend slot {index}")))?;
        // Redacted before the prompt stage trims anything (`redact.rs` says why).
        let vault = self.redact(index, &mut req);
        let prepared = prompt::prepare(route, slot.protocol, &mut req);
        if expanded::transcript(ctx).is_some() {
            match &vault {
                Some(vault) => {
                    let mut sent = req.clone();
                    crate::secrets::restore_request(vault, &mut sent);
                    expanded::sending(ctx, &sent);
                }
                None => expanded::sending(ctx, &req),
            }
        }
        let streaming = req.stream;
        let asked = Instant::now();
        let lease = self.pool.acquire(index, req.keep_alive).await?;
        // Time spent waiting for a cold backend to load is Ollama's `load_duration`.
        let waited = asked.elapsed();
        observe::sending(ctx, self.telemetry.metrics.labels.backend(index), waited);
        req.model = route.settings.upstream.clone();
        let stream = match lease.backend().generate(req, ctx).await {
            Ok(stream) => stream,
            Err(e) => return Err(crate::pool::failed(&lease, e).await),
        };
        // Post-processing sits inside the tracking: a stream it ends at a stop string (and
        // whose upstream it drops) completed; it was not cancelled.
        let stream = match prepared.clean {
            Some(clean) => postprocess::postprocess(stream, clean, streaming),
            None => stream,
        };
        // The answer was cleaned against the redacted prompt; now the secrets come back.
        let stream = match vault {
            Some(vault) => crate::secrets::restore(stream, vault),
            None => stream,
        };
        let stream = expanded::capture(stream, ctx);
        let stream = crate::pool::tracked(stream, lease);
        let stream = load_time::report(stream, waited);
        let stream = match deadline {
            Some(at) => deadline::limit(stream, at, feature),
            None => stream,
        };
        let mut started = first_event::peek(stream).await?;
        started.report = prepared.report;
        slot.stats.answered();
        Ok(started)
    }

    /// Embeddings on the least busy replica, failing over like `generate`.
    pub async fn embed(
        &self,
        route: &ModelEntry,
        mut req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        let admission = self.admit(ctx, route, Feature::Embeddings).await?;
        route::check_embedding(route, &req.model)?;
        req.model = route.settings.upstream.clone();
        let answer = self
            .first_that_answers(route, None, |index| self.embed_on(index, req.clone(), ctx))
            .await?;
        admission.spend(u64::from(answer.prompt_tokens));
        Ok(answer)
    }

    async fn embed_on(
        &self,
        index: usize,
        mut req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        self.redact_embed(index, &mut req);
        let asked = Instant::now();
        let lease = self.pool.acquire(index, req.keep_alive).await?;
        observe::sending(
            ctx,
            self.telemetry.metrics.labels.backend(index),
            asked.elapsed(),
        );
        match lease.backend().embed(req, ctx).await {
            Ok(r) => {
                let stats = &lease.slot().stats;
                stats.completed();
                stats.answered();
                observe::embedded(ctx, &r);
                Ok(r)
            }
            Err(e) => Err(crate::pool::failed(&lease, e).await),
        }
    }

    /// Whether the model's backend takes Ollama's model management (`/api/pull`…).
    pub fn manages_models(&self, route: &ModelEntry) -> bool {
        self.pool
            .slots()
            .get(route.primary())
            .is_some_and(|s| s.protocol.manages_models())
    }

    /// When the model's backend counts as loaded (Ollama's `/api/ps`): `Some(left)` while
    /// a managed backend is ready (the time to its idle stop; `None` inside when it never
    /// stops), or while a remote one is busy or was used within `keep`.
    pub fn loaded(
        &self,
        route: &ModelEntry,
        keep: std::time::Duration,
    ) -> Option<Option<std::time::Duration>> {
        let slot = self.pool.representative(&route.backends)?;
        if let Some(l) = slot.lifecycle() {
            let snap = l.snapshot();
            if snap.phase != crate::pool::Phase::Ready {
                return None;
            }
            return Some(
                snap.idle_deadline
                    .map(|d| d.saturating_duration_since(Instant::now())),
            );
        }
        let s = slot.stats.snapshot();
        let last = std::time::UNIX_EPOCH + std::time::Duration::from_millis(s.last_activity_ms?);
        let since = std::time::SystemTime::now()
            .duration_since(last)
            .unwrap_or_default();
        if s.in_flight == 0 && since > keep {
            return None;
        }
        Some(Some(keep.saturating_sub(since)))
    }

    /// Ollama's model management (`/api/pull` and friends) on the model's first backend.
    pub async fn manage(
        &self,
        route: &ModelEntry,
        op: ManageOp,
        body: bytes::Bytes,
        ctx: &CallContext,
    ) -> Result<RawResponse, GatewayError> {
        let lease = self.pool.acquire(route.primary(), None).await?;
        lease.backend().manage(op, body, ctx).await
    }

    /// Loads (wakes) the model's backend without generating, as Ollama does for an empty
    /// prompt; `keep_alive: 0` unloads it instead.
    pub async fn load(
        &self,
        route: &ModelEntry,
        keep_alive: Option<KeepAlive>,
    ) -> Result<(), GatewayError> {
        if keep_alive.is_some_and(KeepAlive::is_zero) {
            for &index in &route.backends {
                self.pool.unload(index);
            }
            return Ok(());
        }
        let order = self.pool.order(&route.backends, None);
        let first = order.first().copied().unwrap_or(route.primary());
        drop(self.pool.acquire(first, keep_alive).await?);
        Ok(())
    }

    /// The model for `feature` and the guard's word on it, for surfaces that only need to
    /// know whether a feature can be served (GitLab's monitoring).
    pub fn servable(&self, feature: Feature) -> Result<Arc<ModelEntry>, GatewayError> {
        let route = self.route(feature, Requested::Nothing)?;
        self.check_feature(feature)?;
        Ok(route)
    }
}

/// Fills what the request left open from the feature's defaults.
fn apply_defaults(f: &FeatureSettings, req: &mut GenerateRequest) {
    if req.sampling.max_tokens.is_none() {
        req.sampling.max_tokens = f.max_tokens;
    }
    if req.sampling.temperature.is_none() {
        req.sampling.temperature = f.temperature;
    }
}
