//! The `Backend` trait: one implementation per upstream protocol.
//!
//! A backend turns a neutral request into an upstream call and the upstream's answer into
//! a stream of neutral events. Dropping the stream must cancel the upstream request.
//! Limits, metrics and lifecycle are decorators around this trait, not code inside it.

use crate::error::GatewayError;
use crate::event::Event;
use crate::facts::RequestFacts;
use crate::request::{EmbedRequest, EmbedResponse, GenerateRequest};
use bytes::Bytes;
use futures::stream::BoxStream;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A generation in progress. Ends after `Event::Done` or after the first `Err`.
pub type EventStream = BoxStream<'static, Result<Event, GatewayError>>;

/// Per-call context that travels with the request to the upstream.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The correlation id, forwarded as `X-Request-ID`.
    pub request_id: String,
    /// The client asked for an answer without gateway-side docs grounding.
    pub no_grounding: bool,
    /// An API key the client gave for the upstream itself (GitLab's `model_api_key`), used
    /// by backends that accept one per request instead of their configured key.
    pub upstream_key: Option<UpstreamKey>,
    /// Who is calling, as the gateway's authentication found; `None` only for calls made
    /// outside a client request (probes, tests).
    pub caller: Option<std::sync::Arc<crate::Caller>>,
    /// Where the pipeline notes what it learns about the request (model, tokens, timings)
    /// for the gateway's metrics and usage records; `None` outside an HTTP request.
    pub facts: Option<Arc<RequestFacts>>,
}

/// A credential for the upstream; never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UpstreamKey(pub String);

impl std::fmt::Debug for UpstreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamKey(<redacted>)")
    }
}

impl CallContext {
    pub fn new(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            no_grounding: false,
            upstream_key: None,
            caller: None,
            facts: None,
        }
    }
}

/// Ollama model-management calls that pass through to Ollama upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageOp {
    Pull,
    Push,
    Create,
    Copy,
    Delete,
}

impl ManageOp {
    pub fn path(self) -> &'static str {
        match self {
            ManageOp::Pull => "/api/pull",
            ManageOp::Push => "/api/push",
            ManageOp::Create => "/api/create",
            ManageOp::Copy => "/api/copy",
            ManageOp::Delete => "/api/delete",
        }
    }
}

/// An upstream response passed through as bytes.
pub struct RawResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: BoxStream<'static, Result<Bytes, GatewayError>>,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Starts a generation. Errors before the first byte are returned here; errors after
    /// it arrive as the stream's last item.
    async fn generate(
        &self,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<EventStream, GatewayError>;

    async fn embed(
        &self,
        req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError>;

    /// Backend-specific state for `/status` (the mock reports its counters and the last
    /// request it received, so tests can assert the exact upstream prompt).
    fn describe(&self) -> Option<serde_json::Value> {
        None
    }

    /// Model management (`/api/pull` and friends). Only Ollama upstreams support it.
    async fn manage(
        &self,
        op: ManageOp,
        body: Bytes,
        ctx: &CallContext,
    ) -> Result<RawResponse, GatewayError> {
        let _ = (op, body, ctx);
        Err(GatewayError::bad_request(
            "this model is managed by devassist's configuration, not by this API",
        ))
    }
}
