//! The client for Ollama upstreams, in Ollama's native API so that options, keep_alive,
//! raw, suffix, template, format, think and context survive the trip.
//!
//! It owns the translation to and from Ollama's wire format and the pass-through of model
//! management calls; limits, retries and lifecycle wrap the `Backend` trait from outside.

mod manage;
mod request;
mod stream;
#[cfg(test)]
mod tests;

use crate::http::pump::{BodyReader, Pump};
use crate::http::{Answer, Body, HttpConfig, Upstream, answer, error, media_type};
use bytes::Bytes;
use devassist_core::{
    Backend, CallContext, EmbedRequest, EmbedResponse, EventStream, GatewayError, GenerateRequest,
    ManageOp, RawResponse,
};
use http::Method;
use serde_json::Value;
use stream::NdjsonDecoder;

/// Largest non-streamed body accepted from an upstream (embeddings of a big batch fit).
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// An Ollama upstream. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct OllamaBackend {
    upstream: Upstream,
}

impl std::fmt::Debug for OllamaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OllamaBackend")
            .field("host", &self.upstream.host())
            .finish_non_exhaustive()
    }
}

impl OllamaBackend {
    /// Builds the client once. Fails on a URL or header the HTTP client cannot use.
    pub fn new(config: HttpConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            upstream: Upstream::new(&config)?,
        })
    }
}

#[async_trait::async_trait]
impl Backend for OllamaBackend {
    async fn generate(
        &self,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<EventStream, GatewayError> {
        let (endpoint, body) = request::generate_body(&req);
        let call = self
            .upstream
            .send_checked(
                Method::POST,
                endpoint.path(),
                Body::Json(body),
                answer(&req),
                ctx,
            )
            .await?;
        match media_type(&call.response) {
            Some(m) if !m.contains("json") => {
                return Err(error::malformed(format!(
                    "unexpected content-type {m:?} from {}",
                    self.upstream.host()
                )));
            }
            _ => {}
        }
        let reader = BodyReader::new(call.response, &self.upstream, Some(call.deadline));
        Pump::new(reader, NdjsonDecoder::new(self.upstream.host()))
            .start()
            .await
    }

    async fn embed(
        &self,
        req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        let body = Body::Json(request::embed_body(&req));
        let call = self
            .upstream
            .send_checked(Method::POST, "/api/embed", body, Answer::Whole, ctx)
            .await?;
        let value = self.upstream.read_json(call, MAX_JSON_BODY).await?;
        parse_embeddings(&value, req.input.len())
    }

    async fn manage(
        &self,
        op: ManageOp,
        body: Bytes,
        ctx: &CallContext,
    ) -> Result<RawResponse, GatewayError> {
        manage::pass_through(&self.upstream, op, body, ctx).await
    }
}

/// `{"embeddings":[[...]],"prompt_eval_count":N}`.
fn parse_embeddings(value: &Value, inputs: usize) -> Result<EmbedResponse, GatewayError> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error::in_stream(value));
    }
    let rows = value
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| error::malformed("embed response has no embeddings array"))?;
    let embeddings = rows
        .iter()
        .map(|row| {
            row.as_array()?
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
        })
        .collect::<Option<Vec<Vec<f32>>>>()
        .ok_or_else(|| error::malformed("embedding is not an array of numbers"))?;
    if embeddings.len() != inputs {
        return Err(error::malformed(format!(
            "{} embeddings for {inputs} inputs",
            embeddings.len()
        )));
    }
    let prompt_tokens = value
        .get("prompt_eval_count")
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(EmbedResponse {
        embeddings,
        prompt_tokens,
    })
}
