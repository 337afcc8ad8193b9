//! Answer bodies shared by chat and completions: the non-streaming JSON and the SSE stream
//! (first delta with the role, deltas, a finish chunk carrying llama-server's `timings`, a
//! usage chunk when asked, then `data: [DONE]`; never a `: ping` comment).

use super::error::ApiError;
use crate::engine::{Event, Summary};
use crate::toolcall::{ToolCall, ToolCalls};
use axum::http::HeaderValue;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
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

    /// `tool_calls` in OpenAI's shape; stream deltas also number them.
    fn tool_calls(&self, calls: &[ToolCall], streaming: bool) -> Json {
        let number = self.id.rsplit('-').next().unwrap_or_default();
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut call = json!({
                    "id": format!("call_{number}_{i}"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                });
                if streaming {
                    call["index"] = json!(i);
                }
                call
            })
            .collect()
    }

    fn tool_calls_delta(&self, calls: &[ToolCall]) -> String {
        let choice = json!({
            "index": 0,
            "delta": {"tool_calls": self.tool_calls(calls, true)},
            "finish_reason": null,
        });
        to_string(&self.body(true, vec![choice]))
    }

    fn finish(&self, s: &Summary, called: bool) -> String {
        let reason = finish_reason(s, called);
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
    pub fn full(&self, text: &str, s: &Summary, calls: &[ToolCall]) -> Json {
        let reason = finish_reason(s, !calls.is_empty());
        let choice = match self.kind {
            Kind::Chat if calls.is_empty() => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reason,
            }),
            Kind::Chat => json!({
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": if text.trim().is_empty() { Json::Null } else { json!(text) },
                    "tool_calls": self.tool_calls(calls, false),
                },
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

fn finish_reason(s: &Summary, called: bool) -> &'static str {
    if called {
        "tool_calls"
    } else {
        s.finish.as_str()
    }
}

fn to_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string())
}

/// A streamed answer sends an SSE comment after this much silence. The head goes out at once
/// and a long prompt's prefill on a CPU can take minutes before the first token: the
/// comments tell the gateway (whose upstream client allows 60 s between body chunks) and
/// any proxy on the way that the engine is working, so only the request's own time limit
/// bounds the wait. SSE clients ignore comments.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answer a generation, streaming or not. Dropping the response (client gone) drops `rx`,
/// which the engine notices at its next step.
/// With `tools`, text is split into content and tool calls as it arrives.
pub async fn respond(
    reply: Reply,
    rx: UnboundedReceiver<Event>,
    streaming: bool,
    tools: Option<ToolCalls>,
) -> Response {
    if streaming {
        let mut response = Sse::new(sse_frames(reply, rx, tools))
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response();
        response
            .headers_mut()
            .insert("x-accel-buffering", HeaderValue::from_static("no"));
        return response;
    }
    match collect(rx).await {
        Ok((text, summary)) => {
            let (text, calls) = match tools {
                Some(mut tools) => {
                    let mut content = tools.push(&text);
                    let (rest, calls) = tools.finish();
                    content.push_str(&rest);
                    (content, calls)
                }
                None => (text, Vec::new()),
            };
            axum::Json(reply.full(&text, &summary, &calls)).into_response()
        }
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
    tools: Option<ToolCalls>,
    queue: VecDeque<String>,
    first: bool,
    done: bool,
}

fn sse_frames(
    reply: Reply,
    rx: UnboundedReceiver<Event>,
    tools: Option<ToolCalls>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let state = Frames {
        reply,
        rx,
        tools,
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
                    let content = match st.tools.as_mut() {
                        Some(tools) => tools.push(&text),
                        None => text,
                    };
                    if !content.is_empty() {
                        st.queue.push_back(st.reply.delta(&content, st.first));
                        st.first = false;
                    }
                }
                Some(Event::Done(summary)) => {
                    let (rest, calls) = st.tools.take().map(ToolCalls::finish).unwrap_or_default();
                    if !rest.is_empty() || (st.first && st.reply.kind == Kind::Chat) {
                        st.queue.push_back(st.reply.delta(&rest, st.first));
                        st.first = false;
                    }
                    if !calls.is_empty() {
                        st.queue.push_back(st.reply.tool_calls_delta(&calls));
                    }
                    st.queue
                        .push_back(st.reply.finish(&summary, !calls.is_empty()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Finish;
    use crate::toolcall::Syntax;
    use tokio::sync::mpsc;

    fn summary() -> Summary {
        Summary {
            finish: Finish::Stop,
            prompt_tokens: 10,
            cached_tokens: 0,
            completion_tokens: 5,
            prompt_ms: 1.0,
            predicted_ms: 2.0,
        }
    }

    /// The engine's events for an answer that says a few words, then calls a tool.
    fn answer() -> UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        for piece in [
            "Checking",
            ".\n<tool",
            "_call>\n{\"name\": \"get_weather\",",
            " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        ] {
            tx.send(Event::Text(piece.to_owned())).unwrap();
        }
        tx.send(Event::Done(summary())).unwrap();
        rx
    }

    fn tools() -> Option<ToolCalls> {
        Some(ToolCalls::new(
            Syntax::Hermes,
            vec!["get_weather".to_owned()],
        ))
    }

    async fn body_json(response: Response) -> Json {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_whole_answer_carries_tool_calls_and_the_rest_as_content() {
        let reply = Reply::new(Kind::Chat, "m".to_owned(), false);
        let body = body_json(respond(reply, answer(), false, tools()).await).await;
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Checking.\n");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
        assert!(call["id"].as_str().unwrap().starts_with("call_"));
        assert!(call.get("index").is_none());
    }

    /// A long prefill: the stream's head is out, the first token 40 s away. SSE comments
    /// keep the connection visibly alive (the gateway's client allows 60 s of silence).
    #[tokio::test(start_paused = true)]
    async fn a_silent_prefill_sends_keep_alive_comments() {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(40)).await;
            let _ = tx.send(Event::Text("Hi".to_owned()));
            let _ = tx.send(Event::Done(summary()));
        });
        let reply = Reply::new(Kind::Chat, "m".to_owned(), false);
        let response = respond(reply, rx, true, None).await;
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let first_data = text.find("data: ").unwrap();
        let comments = text[..first_data]
            .lines()
            .filter(|l| l.starts_with(':'))
            .count();
        assert_eq!(comments, 2, "one comment per 15 s of silence: {text:?}");
        assert!(text.contains("\"content\":\"Hi\""), "{text}");
    }

    #[tokio::test]
    async fn a_stream_sends_content_then_one_tool_calls_delta_then_the_finish() {
        let reply = Reply::new(Kind::Chat, "m".to_owned(), false);
        let response = respond(reply, answer(), true, tools()).await;
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let frames: Vec<Json> = String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let content: String = frames
            .iter()
            .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "Checking.\n");
        assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
        let calls: Vec<&Json> = frames
            .iter()
            .filter_map(|f| f["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0][0]["index"], 0);
        assert_eq!(calls[0][0]["function"]["name"], "get_weather");
        let last = frames.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    }

    #[tokio::test]
    async fn without_tools_the_text_is_untouched() {
        let reply = Reply::new(Kind::Chat, "m".to_owned(), false);
        let body = body_json(respond(reply, answer(), false, None).await).await;
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert!(
            choice["message"]["content"]
                .as_str()
                .unwrap()
                .contains("<tool_call>")
        );
    }
}
