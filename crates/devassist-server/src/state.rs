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
    pub async fn generate(
        &self,
        route: &ModelEntry,
        feature: Feature,
        mut req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
        let f = self.check_feature(feature)?;
        Self::apply_defaults(f, &mut req);
        let deadline = f.timeout.map(|t| tokio::time::Instant::now() + t);
        let kind = self
            .pool
            .slots()
            .get(route.backend)
            .map(|s| s.kind)
            .unwrap_or("");
        let post = prompting::prepare(route, kind, &mut req);
        let streaming = req.stream;
        let work = async {
            let lease = self.pool.acquire(route.backend, req.keep_alive).await?;
            req.model = route.settings.upstream.clone();
            let stream = match lease.backend().generate(req, ctx).await {
                Ok(s) => s,
                Err(e) => {
                    lease.slot().stats.failed();
                    return Err(e);
                }
            };
            let mut stream = tracked(stream, lease);
            if let Some(post) = post {
                stream = prompting::postprocess(stream, post, streaming);
            }
            if let Some(at) = deadline {
                stream = deadline::limit(stream, at, feature);
            }
            match stream.next().await {
                Some(Ok(first)) => Ok(Started {
                    first,
                    rest: stream,
                }),
                Some(Err(e)) => Err(e),
                None => Err(GatewayError::backend_error("the backend sent no response")),
            }
        };
        match deadline {
            None => work.await,
            Some(at) => tokio::time::timeout_at(at, work)
                .await
                .unwrap_or_else(|_| Err(deadline::exceeded(feature))),
        }
    }

    pub async fn embed(
        &self,
        route: &ModelEntry,
        mut req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        self.check_feature(Feature::Embeddings)?;
        let lease = self.pool.acquire(route.backend, req.keep_alive).await?;
        req.model = route.settings.upstream.clone();
        let result = lease.backend().embed(req, ctx).await;
        match &result {
            Ok(_) => lease.slot().stats.completed(),
            Err(_) => lease.slot().stats.failed(),
        }
        result
    }

    pub async fn manage(
        &self,
        route: &ModelEntry,
        op: ManageOp,
        body: bytes::Bytes,
        ctx: &CallContext,
    ) -> Result<RawResponse, GatewayError> {
        let lease = self.pool.acquire(route.backend, None).await?;
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
            self.pool.unload(route.backend);
            return Ok(());
        }
        drop(self.pool.acquire(route.backend, keep_alive).await?);
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
