//! Shared stream plumbing for surfaces: collecting a generation for non-streaming replies
//! and building streaming responses with the headers proxies need.

use crate::pipeline::Started;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use devassist_core::{Event, FinishReason, GatewayError, Timings, ToolCall, Usage};
use futures::{Stream, StreamExt};
use std::convert::Infallible;

/// A whole generation, for `stream: false`.
#[derive(Debug, Default)]
pub struct Collected {
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
    pub context: Option<Vec<i64>>,
}

pub async fn collect(started: Started) -> Result<Collected, GatewayError> {
    let mut out = Collected::default();
    let mut stream = started.into_stream();
    while let Some(item) = stream.next().await {
        match item? {
            Event::Text(t) => out.text.push_str(&t),
            Event::Reasoning(t) => out.reasoning.push_str(&t),
            Event::ToolCall(c) => out.tool_calls.push(c),
            Event::Done {
                finish,
                usage,
                timings,
                context,
            } => {
                out.finish = finish;
                out.usage = usage;
                out.timings = timings;
                out.context = context;
                if !out.tool_calls.is_empty() {
                    out.finish = FinishReason::ToolCalls;
                }
                return Ok(out);
            }
        }
    }
    Err(GatewayError::backend_error(
        "the backend closed the stream before it finished",
    ))
}

/// A streaming response: every item of `frames` is written as its own chunk, with the
/// headers that stop nginx and friends from buffering it.
pub fn streaming(
    content_type: &'static str,
    frames: impl Stream<Item = Bytes> + Send + 'static,
) -> Response {
    let mut resp = Response::new(Body::from_stream(frames.map(Ok::<_, Infallible>)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Serialises a JSON value followed by `suffix`, in one allocation.
pub fn json_frame(prefix: &[u8], value: &impl serde::Serialize, suffix: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(prefix);
    if serde_json::to_writer(&mut buf, value).is_err() {
        buf.extend_from_slice(br#"{"error":"serialisation failed"}"#);
    }
    buf.extend_from_slice(suffix);
    Bytes::from(buf)
}
