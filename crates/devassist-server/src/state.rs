//! The shared gateway state handed to every handler, and the one pipeline every surface
//! calls: resolve the route, take a lease on its backend, call it, track the stream.

use crate::config::{Capability, FeatureSettings, Features, Settings};
use crate::pool::{Pool, tracked};
use crate::router::{ModelEntry, Router};
use crate::{deadline, prompting};
use devassist_core::{
    CallContext, EmbedRequest, EmbedResponse, Event, EventStream, Feature, GatewayError,
    GenerateRequest, ManageOp, RawResponse,
};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

/// Cheap to clone; handlers receive it through axum's `State`.
#[derive(Clone)]
pub struct AppState(pub Arc<Gateway>);

impl std::ops::Deref for AppState {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.0
    }
}

pub struct Gateway {
    pub router: Router,
    pub pool: Pool,
    pub features: Features,
    /// The GitLab surface's allow-listed endpoints and their clients.
    pub gitlab: crate::surfaces::gitlab::GitLabState,
    /// Loaded docs indexes (possibly none) and how chat is grounded in them.
    pub docs: Arc<devassist_search::api::DocsIndexes>,
    pub docs_settings: crate::config::DocsSettings,
    pub max_body_bytes: usize,
    pub started_at: Instant,
}

impl Gateway {
    pub fn new(settings: &Settings, router: Router, pool: Pool) -> Self {
        Self {
            router,
            pool,
            features: settings.features.clone(),
            gitlab: crate::surfaces::gitlab::GitLabState::new(settings.gitlab.clone()),
            docs: Arc::new(devassist_search::api::DocsIndexes::new()),
            docs_settings: settings.docs.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            started_at: Instant::now(),
        }
    }

    /// 403 naming the feature when the admin turned it off.
    pub fn check_feature(&self, feature: Feature) -> Result<&FeatureSettings, GatewayError> {
        let f = self.features.get(feature);
        if f.enabled {
            Ok(f)
        } else {
            Err(GatewayError::forbidden(format!(
                "the {feature} feature is turned off on this gateway"
            )))
        }
    }

    /// The model for a feature: the one the client asked for when the configuration knows
    /// it, else the model the admin mapped to the feature, else the first model that can
    /// serve it.
    pub fn route_feature(
        &self,
        feature: Feature,
        requested: Option<&str>,
    ) -> Result<Arc<ModelEntry>, GatewayError> {
        let f = self.check_feature(feature)?;
        if let Some(name) = requested.filter(|n| !n.trim().is_empty())
            && let Ok(route) = self.router.resolve(name)
        {
            return Ok(route);
        }
        if let Some(name) = &f.model {
            return self.router.resolve(name);
        }
        let needed = match feature {
            Feature::Embeddings => Capability::Embedding,
            _ => Capability::Completion,
        };
        self.router
            .models()
            .iter()
            .find(|m| m.has(needed))
            .cloned()
            .ok_or_else(|| {
                GatewayError::new(
                    devassist_core::ErrorKind::NotFound,
                    devassist_core::Origin::Gateway,
                    format!("no model is configured for the {feature} feature"),
                )
            })
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

    /// Starts a generation on the model's backend. The returned stream has already
    /// produced its first event (returned separately), so errors before the first byte
    /// come back as `Err` and the surface can still pick the status code.
    ///
    /// The affinity key is derived from the start of the prompt (see
    /// `generate_with_affinity`).
    pub async fn generate(
        &self,
        route: &ModelEntry,
        feature: Feature,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
        let affinity = crate::pool::balance::affinity_key(&req);
        self.generate_with_affinity(route, feature, req, ctx, affinity)
            .await
    }

    /// `generate` with an explicit affinity key (a file path, a conversation id): requests
    /// with the same key go to the same replica while it is healthy, so its KV cache is
    /// reused. Replicas are tried in the pool's order; a retryable error before the first
    /// byte fails over to the next one.
    pub async fn generate_with_affinity(
        &self,
        route: &ModelEntry,
        feature: Feature,
        mut req: GenerateRequest,
        ctx: &CallContext,
        affinity: Option<String>,
    ) -> Result<Started, GatewayError> {
        let f = self.check_feature(feature)?;
        Self::apply_defaults(f, &mut req);
        let deadline = f.timeout.map(|t| tokio::time::Instant::now() + t);
        let sources = match (&self.docs_settings.chat_index, feature) {
            (Some(index), Feature::Chat) if !ctx.no_grounding => {
                crate::grounding::ground(&self.docs, &self.docs_settings, index, &mut req).await?
            }
            _ => Vec::new(),
        };
        let work = async {
            let order = self.pool.order(&route.backends, affinity.as_deref());
            let mut last = None;
            for (n, &index) in order.iter().enumerate() {
                match self
                    .attempt(route, feature, index, req.clone(), ctx, deadline)
                    .await
                {
                    Ok(started) => return Ok(started),
                    Err(e) if n + 1 < order.len() && e.retryable() => {
                        tracing::warn!(model = %route.name(), error = %e, "Replica failed before the first byte: trying the next");
                        last = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| GatewayError::internal("the model has no backend")))
        };
        let started = match deadline {
            None => work.await,
            Some(at) => tokio::time::timeout_at(at, work)
                .await
                .unwrap_or_else(|_| Err(deadline::exceeded(feature))),
        }?;
        if sources.is_empty() {
            return Ok(started);
        }
        let mut stream = crate::grounding::list_sources(started.into_stream(), sources);
        match stream.next().await {
            Some(Ok(first)) => Ok(Started {
                first,
                rest: stream,
            }),
            Some(Err(e)) => Err(e),
            None => Err(GatewayError::backend_error("the backend sent no response")),
        }
    }

    /// One try of a generation on backend `index`, up to its first event.
    async fn attempt(
        &self,
        route: &ModelEntry,
        feature: Feature,
        index: usize,
        mut req: GenerateRequest,
        ctx: &CallContext,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Started, GatewayError> {
        let kind = self.pool.slots().get(index).map(|s| s.kind).unwrap_or("");
        let post = prompting::prepare(route, kind, &mut req);
        let streaming = req.stream;
        let asked = tokio::time::Instant::now();
        let lease = self.pool.acquire(index, req.keep_alive).await?;
        // Time spent waiting for a cold backend to load is Ollama's `load_duration`.
        let waited = asked.elapsed();
        req.model = route.settings.upstream.clone();
        let stream = match lease.backend().generate(req, ctx).await {
            Ok(s) => s,
            Err(e) => {
                let stats = &lease.slot().stats;
                stats.failed();
                if e.retryable() {
                    stats.fault();
                }
                return Err(lease.explain(e).await);
            }
        };
        let slot = lease.slot().clone();
        // Post-processing sits inside the tracking: a stream it ends at a stop string (and
        // whose upstream it drops) completed; it was not cancelled.
        let stream = match post {
            Some(post) => prompting::postprocess(stream, post, streaming),
            None => stream,
        };
        let mut stream = tracked(stream, lease);
        if waited >= std::time::Duration::from_millis(1) {
            stream = stream
                .map(move |item| match item {
                    Ok(Event::Done {
                        finish,
                        usage,
                        mut timings,
                        context,
                    }) => {
                        timings.load = Some(timings.load.unwrap_or_default().max(waited));
                        Ok(Event::Done {
                            finish,
                            usage,
                            timings,
                            context,
                        })
                    }
                    other => other,
                })
                .boxed();
        }
        if let Some(at) = deadline {
            stream = deadline::limit(stream, at, feature);
        }
        match stream.next().await {
            Some(Ok(first)) => {
                slot.stats.answered();
                Ok(Started {
                    first,
                    rest: stream,
                })
            }
            Some(Err(e)) => Err(e),
            None => Err(GatewayError::backend_error("the backend sent no response")),
        }
    }

    /// Embeddings on the least busy replica, failing over like `generate`.
    pub async fn embed(
        &self,
        route: &ModelEntry,
        mut req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        self.check_feature(Feature::Embeddings)?;
        req.model = route.settings.upstream.clone();
        let order = self.pool.order(&route.backends, None);
        let mut last = None;
        for (n, &index) in order.iter().enumerate() {
            let result = match self.pool.acquire(index, req.keep_alive).await {
                Ok(lease) => {
                    let result = lease.backend().embed(req.clone(), ctx).await;
                    let stats = &lease.slot().stats;
                    match &result {
                        Ok(_) => {
                            stats.completed();
                            stats.answered();
                        }
                        Err(e) => {
                            stats.failed();
                            if e.retryable() {
                                stats.fault();
                            }
                        }
                    }
                    match result {
                        Ok(r) => Ok(r),
                        Err(e) => Err(lease.explain(e).await),
                    }
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e) if n + 1 < order.len() && e.retryable() => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| GatewayError::internal("the model has no backend")))
    }

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
        keep_alive: Option<devassist_core::KeepAlive>,
    ) -> Result<(), GatewayError> {
        if keep_alive.is_some_and(devassist_core::KeepAlive::is_zero) {
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
}

/// A generation whose first event has arrived.
pub struct Started {
    pub first: Event,
    pub rest: EventStream,
}

impl Started {
    /// The whole stream again, first event included.
    pub fn into_stream(self) -> EventStream {
        futures::stream::once(async move { Ok(self.first) })
            .chain(self.rest)
            .boxed()
    }
}
