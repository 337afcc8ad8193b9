//! The deterministic mock backend for tests and benchmarks: echoes the prompt or cycles a
//! fixed text, with a configurable token count, time to first token and per-token delay,
//! on tokio's clock (so tests run on the paused clock).
//!
//! Failure modes are chosen by the model name (`faults.rs`); `stats` counts started,
//! completed and cancelled generations so gateway tests can see a client disconnect
//! arrive here.

mod config;
mod embed;
mod faults;
mod script;
mod stats;
#[cfg(test)]
mod tests;

pub use config::{MockConfig, MockMode};
pub use stats::MockStats;

use crate::http::error;
use devassist_core::{
    Backend, CallContext, EmbedRequest, EmbedResponse, Event, EventStream, GatewayError,
    GenerateRequest, Timings, Usage,
};
use faults::Faults;
use script::Script;
use stats::{Counters, RunGuard};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Tokens a `broken` stream sends before failing.
const BROKEN_AFTER: usize = 3;

/// The mock upstream. Clones share the config and the counters.
#[derive(Debug, Clone)]
pub struct MockBackend {
    config: Arc<MockConfig>,
    counters: Arc<Counters>,
    last_request: Arc<std::sync::Mutex<Option<serde_json::Value>>>,
}

impl MockBackend {
    pub fn new(config: MockConfig) -> Self {
        Self {
            config: Arc::new(config),
            counters: Arc::new(Counters::default()),
            last_request: Arc::default(),
        }
    }

    /// The last generation request received, as JSON: what the gateway sent upstream.
    pub fn last_request(&self) -> Option<serde_json::Value> {
        self.last_request.lock().ok().and_then(|l| l.clone())
    }

    pub fn config(&self) -> &MockConfig {
        &self.config
    }

    /// The counters right now.
    pub fn stats(&self) -> MockStats {
        self.counters.snapshot()
    }

    /// Waits until the counters satisfy `done` (wrap it in a timeout in tests).
    pub async fn wait_for_stats(&self, done: impl Fn(&MockStats) -> bool) -> MockStats {
        self.counters.wait_until(done).await
    }
}

fn describe_request(req: &GenerateRequest) -> serde_json::Value {
    use devassist_core::Prompt;
    let prompt = match &req.prompt {
        Prompt::Completion {
            prompt,
            suffix,
            system,
            raw,
            ..
        } => serde_json::json!({"prompt": prompt, "suffix": suffix, "system": system, "raw": raw}),
        Prompt::Chat { messages, tools } => {
            serde_json::json!({"messages": messages, "tools": tools.len()})
        }
    };
    serde_json::json!({
        "model": req.model,
        "prompt": prompt,
        "stop": req.sampling.stop,
        "max_tokens": req.sampling.max_tokens,
        "temperature": req.sampling.temperature,
        "stream": req.stream,
    })
}

#[async_trait::async_trait]
impl Backend for MockBackend {
    fn describe(&self) -> Option<serde_json::Value> {
        let s = self.stats();
        Some(serde_json::json!({
            "started": s.started,
            "completed": s.completed,
            "cancelled": s.cancelled,
            "last_request": self.last_request(),
        }))
    }

    async fn generate(
        &self,
        req: GenerateRequest,
        _ctx: &CallContext,
    ) -> Result<EventStream, GatewayError> {
        if let Ok(mut last) = self.last_request.lock() {
            *last = Some(describe_request(&req));
        }
        let faults = Faults::from_model(&req.model);
        // Created first: dropping this future while it waits counts as a cancellation.
        let mut guard = RunGuard::start(self.counters.clone());
        let ttft = faults.slow.unwrap_or(self.config.ttft);
        before_first_byte(&faults, ttft)
            .await
            .inspect_err(|_| guard.finish())?;
        let script = script::plan(&self.config, &req);
        let items = playback(script, ttft, self.config.token_delay, faults.broken);
        let stream = futures::stream::unfold((items, guard), |(mut items, mut guard)| async move {
            let (delay, item) = items.pop_front()?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if items.is_empty() {
                guard.finish();
            }
            Some((item, (items, guard)))
        });
        Ok(Box::pin(stream))
    }

    async fn embed(
        &self,
        req: EmbedRequest,
        _ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        let faults = Faults::from_model(&req.model);
        before_first_byte(&faults, faults.slow.unwrap_or(Duration::ZERO)).await?;
        let dims = req
            .dimensions
            .map_or(self.config.embedding_dims, |d| d as usize);
        let words: usize = req.input.iter().map(|s| s.split_whitespace().count()).sum();
        Ok(EmbedResponse {
            embeddings: req.input.iter().map(|s| embed::vector(s, dims)).collect(),
            prompt_tokens: u32::try_from(words).unwrap_or(u32::MAX),
        })
    }
}

/// The wait and the failures that happen before an upstream would send its first byte.
async fn before_first_byte(faults: &Faults, ttft: Duration) -> Result<(), GatewayError> {
    if faults.hang {
        std::future::pending::<()>().await;
    }
    if !ttft.is_zero() {
        tokio::time::sleep(ttft).await;
    }
    if faults.error {
        return Err(GatewayError::backend_error(
            "mock upstream failed (the model name asks for `error`)",
        )
        .with_upstream_status(500));
    }
    if faults.garbage {
        return Err(error::malformed("mock upstream answered garbage"));
    }
    Ok(())
}

/// The stream's items, each with the delay before it.
fn playback(
    script: Script,
    ttft: Duration,
    token_delay: Duration,
    broken: bool,
) -> VecDeque<(Duration, Result<Event, GatewayError>)> {
    let mut items = VecDeque::new();
    let mut completion_tokens = 0u32;
    if let Some(call) = script.tool_call {
        items.push_back((Duration::ZERO, Ok(Event::ToolCall(call))));
        completion_tokens = 1;
    }
    for (i, token) in script.tokens.into_iter().enumerate() {
        if broken && i == BROKEN_AFTER {
            break;
        }
        let delay = if i == 0 { Duration::ZERO } else { token_delay };
        items.push_back((delay, Ok(Event::Text(token))));
        completion_tokens += 1;
    }
    if broken {
        let err = GatewayError::backend_error("mock upstream broke mid-stream")
            .with_detail("the model name asks for `broken`");
        items.push_back((token_delay, Err(err)));
        return items;
    }
    let eval = token_delay.saturating_mul(completion_tokens);
    items.push_back((
        Duration::ZERO,
        Ok(Event::Done {
            finish: script.finish,
            usage: Usage {
                prompt_tokens: script.prompt_tokens,
                completion_tokens,
            },
            timings: Timings {
                total: Some(ttft.saturating_add(eval)),
                load: Some(Duration::ZERO),
                prompt_eval: Some(ttft),
                eval: Some(eval),
            },
            context: None,
        }),
    ));
    items
}
