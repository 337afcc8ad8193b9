//! Answer bodies shared by chat and completions: the non-streaming JSON and the SSE stream
//! (first delta with the role, deltas, a finish chunk carrying llama-server's `timings`, a
//! usage chunk when asked, then `data: [DONE]`; never a `: ping` comment).

use super::error::ApiError;
use crate::engine::{Event, Summary};
use axum::http::HeaderValue;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde::Serialize;
use serde_json::{Value as Json, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedReceiver;

const FINGERPRINT: &str = "fp_devassist";

/// Which endpoint's shapes to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

/// llama-server's `timings` object.
#[derive(Debug, Serialize)]
struct Timings {
    cache_n: usize,
    prompt_n: usize,
    prompt_ms: f64,
    prompt_per_token_ms: f64,
    prompt_per_second: f64,
    predicted_n: usize,
    predicted_ms: f64,
    predicted_per_token_ms: f64,
    predicted_per_second: f64,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timings: Option<Timings>,
}

fn usage(s: &Summary) -> Usage {
    Usage {
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        total_tokens: s.prompt_tokens + s.completion_tokens,
    }
}

#[expect(clippy::cast_precision_loss, reason = "token counts are small")]
fn timings(s: &Summary) -> Timings {
    let prompt_n = s.prompt_tokens.saturating_sub(s.cached_tokens);
    let per = |ms: f64, n: usize| if n == 0 { 0.0 } else { ms / n as f64 };
    let rate = |ms: f64, n: usize| if ms <= 0.0 { 0.0 } else { n as f64 * 1e3 / ms };
    Timings {
        cache_n: s.cached_tokens,
        prompt_n,
        prompt_ms: s.prompt_ms,
        prompt_per_token_ms: per(s.prompt_ms, prompt_n),
        prompt_per_second: rate(s.prompt_ms, prompt_n),
        predicted_n: s.completion_tokens,
        predicted_ms: s.predicted_ms,
        predicted_per_token_ms: per(s.predicted_ms, s.completion_tokens),
        predicted_per_second: rate(s.predicted_ms, s.completion_tokens),
    }
}

/// The fixed parts of one answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
}

impl Reply {
    pub fn new(kind: Kind, model: String, include_usage: bool) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = match kind {
            Kind::Chat => "chatcmpl",
            Kind::Completion => "cmpl",
        };
        Self {
            kind,
            id: format!("{prefix}-{n}"),
            created: unix_now(),
            model,
            include_usage,
        }
    }

    fn body(&self, chunk: bool, choices: Vec<Json>) -> Body<'_> {
        let object = match (self.kind, chunk) {
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Chat, false) => "chat.completion",
            (Kind::Completion, _) => "text_completion",
        };
        Body {
            id: &self.id,
            object,
            created: self.created,
            model: &self.model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage: None,
            timings: None,
        }
    }

    fn delta(&self, text: &str, first: bool) -> String {
        let choice = match self.kind {
            Kind::Chat if first => {
                json!({"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": null})
            }
            Kind::Chat => json!({"index": 0, "delta": {"content": text}, "finish_reason": null}),
            Kind::Completion => {
                json!({"text": text, "index": 0, "logprobs": null, "finish_reason": null})
            }
        };
        to_string(&self.body(true, vec![choice]))
    }

    fn finish(&self, s: &Summary) -> String {
        let reason = s.finish.as_str();
        let choice = match self.kind {
            Kind::Chat => json!({"index": 0, "delta": {}, "finish_reason": reason}),
            Kind::Completion => {
                json!({"text": "", "index": 0, "logprobs": null, "finish_reason": reason})
            }
        };
        let mut body = self.body(true, vec![choice]);
        body.timings = Some(timings(s));
        to_string(&body)
    }

    fn usage_chunk(&self, s: &Summary) -> String {
        let mut body = self.body(true, Vec::new());
        body.usage = Some(usage(s));
        to_string(&body)
    }

    /// The non-streaming answer.
    pub fn full(&self, text: &str, s: &Summary) -> Json {
        let reason = s.finish.as_str();
        let choice = match self.kind {
            Kind::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reason,
            }),
            Kind::Completion => {
                json!({"text": text, "index": 0, "logprobs": null, "finish_reason": reason})
            }
        };
        let mut body = self.body(false, vec![choice]);
        body.usage = Some(usage(s));
        body.timings = Some(timings(s));
        serde_json::to_value(&body).unwrap_or(Json::Null)
    }
}

fn to_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answer a generation, streaming or not. Dropping the response (client gone) drops `rx`,
/// which the engine notices at its next step.
pub async fn respond(reply: Reply, rx: UnboundedReceiver<Event>, streaming: bool) -> Response {
    if streaming {
        let mut response = Sse::new(sse_frames(reply, rx)).into_response();
        response
            .headers_mut()
            .insert("x-accel-buffering", HeaderValue::from_static("no"));
        return response;
    }
    match collect(rx).await {
        Ok((text, summary)) => axum::Json(reply.full(&text, &summary)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn collect(mut rx: UnboundedReceiver<Event>) -> Result<(String, Summary), ApiError> {
    let mut text = String::new();
    while let Some(event) = rx.recv().await {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Done(summary) => return Ok((text, summary)),
            Event::Failed(message) => return Err(ApiError::internal(message)),
        }
    }
    Err(ApiError::internal("the engine stopped"))
}

struct Frames {
    reply: Reply,
    rx: UnboundedReceiver<Event>,
    queue: VecDeque<String>,
    first: bool,
    done: bool,
}

fn sse_frames(
    reply: Reply,
    rx: UnboundedReceiver<Event>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let state = Frames {
        reply,
        rx,
        queue: VecDeque::new(),
        first: true,
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(frame) = st.queue.pop_front() {
                return Some((Ok(SseEvent::default().data(frame)), st));
            }
            if st.done {
                return None;
            }
            match st.rx.recv().await {
                Some(Event::Text(text)) => {
                    st.queue.push_back(st.reply.delta(&text, st.first));
                    st.first = false;
                }
                Some(Event::Done(summary)) => {
                    if st.first && st.reply.kind == Kind::Chat {
                        st.queue.push_back(st.reply.delta("", true));
                    }
                    st.queue.push_back(st.reply.finish(&summary));
                    if st.reply.include_usage {
                        st.queue.push_back(st.reply.usage_chunk(&summary));
                    }
                    st.queue.push_back("[DONE]".to_string());
                    st.done = true;
                }
                Some(Event::Failed(message)) => {
                    st.queue
                        .push_back(ApiError::internal(message).body().to_string());
                    st.done = true;
                }
                None => {
                    st.queue
                        .push_back(ApiError::internal("the engine stopped").body().to_string());
                    st.done = true;
                }
            }
        }
    })
}
