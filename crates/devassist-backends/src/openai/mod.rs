//! The client for OpenAI-compatible upstreams: vLLM, llama-server, TGI, LM Studio, the
//! embedded engine, or another devassist.
//!
//! It owns the translation to and from the OpenAI wire format and nothing else: limits,
//! retries and lifecycle wrap the `Backend` trait from outside.

mod request;
mod stream;
#[cfg(test)]
mod tests;

use crate::http::pump::{BodyReader, Pump};
use crate::http::{Answer, Body, HttpConfig, Upstream, answer, error, media_type};
use devassist_core::{
    Backend, CallContext, EmbedRequest, EmbedResponse, EventStream, GatewayError, GenerateRequest,
};
use http::Method;
use serde_json::Value;
use stream::{JsonDecoder, SseDecoder};

/// Largest non-streamed body accepted from an upstream (embeddings of a big batch fit).
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// An OpenAI-compatible upstream. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct OpenAiBackend {
    upstream: Upstream,
}

impl std::fmt::Debug for OpenAiBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiBackend")
            .field("host", &self.upstream.host())
            .finish_non_exhaustive()
    }
}

impl OpenAiBackend {
    /// Builds the client once. Fails on a URL or header the HTTP client cannot use.
    pub fn new(config: HttpConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            upstream: Upstream::new(&config)?,
        })
    }
}

#[async_trait::async_trait]
impl Backend for OpenAiBackend {
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
        let media = media_type(&call.response);
        let reader = BodyReader::new(call.response, &self.upstream, Some(call.deadline));
        match media.as_deref() {
            Some("text/event-stream") => {
                Pump::new(reader, SseDecoder::new(self.upstream.host()))
                    .start()
                    .await
            }
            Some(m) if m.contains("json") => {
                Pump::new(reader, JsonDecoder::new(MAX_JSON_BODY))
                    .start()
                    .await
            }
            None if req.stream => {
                Pump::new(reader, SseDecoder::new(self.upstream.host()))
                    .start()
                    .await
            }
            None => {
                Pump::new(reader, JsonDecoder::new(MAX_JSON_BODY))
                    .start()
                    .await
            }
            Some(other) => Err(error::malformed(format!(
                "unexpected content-type {other:?} from {}",
                self.upstream.host()
            ))),
        }
    }

    async fn embed(
        &self,
        req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        let call = self
            .upstream
            .send_checked(
                Method::POST,
                "/embeddings",
                Body::Json(request::embed_body(&req)),
                Answer::Whole,
                ctx,
            )
            .await?;
        let value = self.upstream.read_json(call, MAX_JSON_BODY).await?;
        parse_embeddings(&value, req.input.len())
    }
}

/// `{"data":[{"index":0,"embedding":[...]}],"usage":{"prompt_tokens":N}}`, in input order.
fn parse_embeddings(value: &Value, inputs: usize) -> Result<EmbedResponse, GatewayError> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error::in_stream(value));
    }
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| error::malformed("embeddings response has no data array"))?;
    let mut rows: Vec<(u64, Vec<f32>)> = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let vector = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| error::malformed("embedding is not an array of numbers"))?
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| error::malformed("embedding is not an array of numbers"))?;
        rows.push((index, vector));
    }
    if rows.len() != inputs {
        return Err(error::malformed(format!(
            "{} embeddings for {inputs} inputs",
            rows.len()
        )));
    }
    rows.sort_by_key(|(index, _)| *index);
    let prompt_tokens = value
        .get("usage")
        .and_then(|u| u.get("prompt_tokens"))
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(EmbedResponse {
        embeddings: rows.into_iter().map(|(_, v)| v).collect(),
        prompt_tokens,
    })
}
