//! GitLab response bodies and stream framing.
//!
//! - `/v2/code/*`: `SuggestionsResponse` JSON; streams are raw text chunks under a
//!   `text/event-stream` content type, with no framing and no terminator.
//! - `/v3/code/completions`: `{choices, metadata}` JSON; raw text streams.
//! - `/v4/code/suggestions`: the v3 JSON; streams are real SSE from sse-starlette:
//!   `stream_start`, `content_chunk`s, `stream_end`, `\r\n` line ends, `json.dumps` data and
//!   a `: ping` comment every 15 seconds.
//! - `/v1/chat/*`: `{response, metadata}` JSON; raw text streams.

use super::pyjson;
use super::wire::CurrentFile;
use crate::surfaces::stream::streaming;
use axum::http::HeaderValue;
use axum::response::Response;
use bytes::Bytes;
use devassist_core::prompt::language;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::json;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

use super::plan::TokenMeta;

/// Starlette appends the charset to every `text/*` media type.
pub const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";
/// sse-starlette's default ping interval.
const PING_EVERY: Duration = Duration::from_secs(15);

/// `model` of a response: which engine and prompt produced it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelMeta {
    pub engine: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_consumption_metadata: Option<TokenMeta>,
}

#[derive(Debug, Serialize)]
struct Choice<'a> {
    text: &'a str,
    index: u32,
    finish_reason: &'static str,
}

/// GitLab hard-codes one choice with index 0 and `finish_reason: "length"`, and drops empty
/// suggestions.
fn choices(text: &str) -> Vec<Choice<'_>> {
    if text.is_empty() {
        return Vec::new();
    }
    vec![Choice {
        text,
        index: 0,
        finish_reason: "length",
    }]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `model.lang`: the language of the file name, else what the client sent, else empty.
pub fn lang(file: &CurrentFile) -> String {
    language::from_path(&file.file_name)
        .map(|l| l.id.to_owned())
        .or_else(|| file.language_identifier.clone())
        .unwrap_or_default()
}

/// The `SuggestionsResponse` of `/v2/code/completions` and `/v2/code/generations`, with
/// the fields in GitLab's order.
pub fn suggestions(model: ModelMeta, text: &str) -> impl Serialize {
    #[derive(Serialize)]
    struct Body<'a> {
        id: &'static str,
        model: ModelMeta,
        experiments: [(); 0],
        object: &'static str,
        created: i64,
        choices: Vec<Choice<'a>>,
    }
    Body {
        id: "id",
        model,
        experiments: [],
        object: "text_completion",
        created: now(),
        choices: choices(text),
    }
}

/// The `/v3/code/completions` and `/v4/code/suggestions` JSON body.
pub fn editor(model: ModelMeta, text: &str) -> impl Serialize {
    #[derive(Serialize)]
    struct Metadata {
        model: ModelMeta,
        timestamp: i64,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        choices: Vec<Choice<'a>>,
        metadata: Metadata,
    }
    Body {
        choices: choices(text),
        metadata: Metadata {
            model,
            timestamp: now(),
        },
    }
}

/// The `/v1/chat/*` JSON body.
pub fn chat<'a>(
    text: &'a str,
    provider: Option<&'a str>,
    model: Option<&'a str>,
) -> impl Serialize {
    #[derive(Serialize)]
    struct Metadata<'a> {
        provider: Option<&'a str>,
        model: Option<&'a str>,
        timestamp: i64,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        response: &'a str,
        metadata: Metadata<'a>,
    }
    Body {
        response: text,
        metadata: Metadata {
            provider,
            model,
            timestamp: now(),
        },
    }
}

/// A raw text stream: each chunk as it comes, nothing else.
pub fn raw_stream(chunks: impl Stream<Item = String> + Send + 'static) -> Response {
    streaming(EVENT_STREAM, chunks.map(Bytes::from))
}

/// One sse-starlette event: `event:` then `data:` lines, `\r\n` line ends, a blank line.
fn sse_event(event: &str, data: &str) -> Bytes {
    let mut out = format!("event: {event}\r\n");
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Bytes::from(out)
}

fn ping() -> Bytes {
    let at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
    Bytes::from(format!(": ping - {at}\r\n\r\n"))
}

/// The v4 SSE stream. `model.lang` is left out of `stream_start`, as GitLab does.
pub fn sse_stream(
    model: ModelMeta,
    chunks: impl Stream<Item = String> + Send + 'static,
) -> Response {
    let start = ModelMeta {
        lang: None,
        tokens_consumption_metadata: None,
        ..model
    };
    let start = sse_event(
        "stream_start",
        &pyjson::dumps(&json!({"metadata": {"model": start, "timestamp": now()}})),
    );
    let content = chunks.map(|text| {
        sse_event(
            "content_chunk",
            &pyjson::dumps(&json!({"choices": [{"delta": {"content": text}, "index": 0}]})),
        )
    });
    let end = futures::stream::once(async { sse_event("stream_end", "null") });
    let frames = futures::stream::once(async move { start })
        .chain(content)
        .chain(end);
    let mut resp = streaming(
        EVENT_STREAM,
        Pinged {
            inner: Box::pin(frames),
            ping: Box::pin(tokio::time::sleep(PING_EVERY)),
        },
    );
    resp.headers_mut()
        .insert("x-streaming-format", HeaderValue::from_static("sse"));
    resp
}

/// Adds a ping comment every `PING_EVERY`: sse-starlette pings on a fixed timer, whatever
/// else is being sent.
struct Pinged {
    inner: Pin<Box<dyn Stream<Item = Bytes> + Send>>,
    ping: Pin<Box<Sleep>>,
}

impl Stream for Pinged {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.ping.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + PING_EVERY;
            self.ping.as_mut().reset(next);
            return Poll::Ready(Some(ping()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn meta() -> ModelMeta {
        ModelMeta {
            engine: "agent".into(),
            name: "Codestral 22B Code Completions".into(),
            lang: Some("python".into()),
            tokens_consumption_metadata: None,
        }
    }

    #[tokio::test]
    async fn sse_frames_match_sse_starlette() {
        let chunks = futures::stream::iter(vec!["\ndef hello_".to_owned(), "wörld\n".to_owned()]);
        let resp = sse_stream(meta(), chunks);
        assert_eq!(resp.headers()["content-type"], EVENT_STREAM);
        assert_eq!(resp.headers()["x-streaming-format"], "sse");
        let text = body(resp).await;
        let ts = text
            .split("\"timestamp\": ")
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .unwrap_or("missing");
        let expected = format!(
            "event: stream_start\r\ndata: {{\"metadata\": {{\"model\": {{\"engine\": \"agent\", \"name\": \"Codestral 22B Code Completions\"}}, \"timestamp\": {ts}}}}}\r\n\r\n\
             event: content_chunk\r\ndata: {{\"choices\": [{{\"delta\": {{\"content\": \"\\ndef hello_\"}}, \"index\": 0}}]}}\r\n\r\n\
             event: content_chunk\r\ndata: {{\"choices\": [{{\"delta\": {{\"content\": \"w\\u00f6rld\\n\"}}, \"index\": 0}}]}}\r\n\r\n\
             event: stream_end\r\ndata: null\r\n\r\n"
        );
        assert_eq!(text, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn sse_pings_every_15_seconds_while_silent() {
        let slow = futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(31)).await;
            "x".to_owned()
        });
        let text = body(sse_stream(meta(), slow)).await;
        let pings =
            text.matches("\r\n: ping - ").count() + usize::from(text.starts_with(": ping - "));
        assert_eq!(pings, 2, "{text}");
        assert!(text.ends_with("event: stream_end\r\ndata: null\r\n\r\n"));
    }

    #[test]
    fn empty_suggestions_are_dropped() {
        let v = serde_json::to_value(suggestions(meta(), "")).unwrap_or_default();
        assert_eq!(v["choices"], json!([]));
        let text = serde_json::to_string(&suggestions(meta(), " bool:")).unwrap_or_default();
        assert!(
            text.starts_with(r#"{"id":"id","model":{"engine":"agent","#),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(
            v["choices"],
            json!([{"text": " bool:", "index": 0, "finish_reason": "length"}])
        );
        assert_eq!(
            (v["id"].as_str(), v["object"].as_str()),
            (Some("id"), Some("text_completion"))
        );
        assert_eq!(v["experiments"], json!([]));
    }
}
