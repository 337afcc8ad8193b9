//! The shared gateway state handed to every handler, and the one pipeline every surface
//! calls: resolve the route, take a lease on its backend, call it, track the stream.

use crate::config::Settings;
use crate::pool::{Pool, tracked};
use crate::router::{ModelEntry, Router};
use devassist_core::{
    CallContext, EmbedRequest, EmbedResponse, Event, EventStream, GatewayError, GenerateRequest,
    ManageOp, RawResponse,
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
    pub max_body_bytes: usize,
    pub started_at: Instant,
}

impl Gateway {
    pub fn new(settings: &Settings, router: Router, pool: Pool) -> Self {
        Self {
            router,
            pool,
            max_body_bytes: settings.server.max_body_bytes,
            started_at: Instant::now(),
        }
    }

    /// Starts a generation on the model's backend. The returned stream has already
    /// produced its first event (returned separately), so errors before the first byte
    /// come back as `Err` and the surface can still pick the status code.
    pub async fn generate(
        &self,
        route: &ModelEntry,
        mut req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
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
        match stream.next().await {
            Some(Ok(first)) => Ok(Started {
                first,
                rest: stream,
            }),
            Some(Err(e)) => Err(e),
            None => Err(GatewayError::backend_error("the backend sent no response")),
        }
    }

    pub async fn embed(
        &self,
        route: &ModelEntry,
        mut req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
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
