//! The engine core: one thread owns the llama.cpp context and runs every request through it.
//!
//! Requests arrive over a channel as [`Command`]s; generated text goes back over a channel per
//! request, so a dropped receiver (the client went away) is how cancellation is noticed. The
//! HTTP layer never touches the context; it only tokenises with the shared model.

mod embed;
mod load;
mod packing;
mod scheduler;
mod slot;

pub use load::{EngineConfig, Loaded, spawn};

use crate::sampling::SamplingParams;
use llama_cpp_2::token::LlamaToken;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// A generation request, already tokenised.
#[derive(Debug)]
pub struct Job {
    pub prompt: Vec<LlamaToken>,
    pub sampling: SamplingParams,
    /// Stop after this many generated tokens; `None` runs to end of generation or context.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// Render control tokens as text (a tool-call marker that is one, such as Mistral's
    /// `[TOOL_CALLS]`, must reach the parser).
    pub special: bool,
    pub events: mpsc::UnboundedSender<Event>,
}

/// What a generation sends back, in order: any number of `Text`, then one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Done(Summary),
    Failed(String),
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached or the context is full.
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// Counts and timings of one finished generation (llama-server's `timings`).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub finish: Finish,
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the slot's KV cache (not evaluated again).
    pub cached_tokens: usize,
    pub completion_tokens: usize,
    pub prompt_ms: f64,
    pub predicted_ms: f64,
}

/// An embeddings request: one vector per input, L2-normalised.
#[derive(Debug)]
pub struct EmbedJob {
    pub inputs: Vec<Vec<LlamaToken>>,
    pub reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
}

/// Work for the engine thread.
#[derive(Debug)]
pub enum Command {
    Generate(Job),
    Embed(EmbedJob),
    /// End every generation and stop the thread (which frees the context).
    Shutdown,
}

/// What a slot is doing, as `/slots` and `/health` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    Idle,
    Prefill,
    Generating,
}

/// A snapshot of one slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotStatus {
    pub id: usize,
    pub state: SlotState,
    /// Tokens held in this slot's KV cache (reusable as a prompt prefix).
    pub n_cached: usize,
    pub n_prompt: usize,
    pub n_generated: usize,
}

/// Slot snapshots plus the number of requests waiting for a slot.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineStatus {
    pub slots: Vec<SlotStatus>,
    pub queued: usize,
}

/// The HTTP side's handle on the engine thread.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<EngineStatus>>,
}

/// The engine thread has stopped (model failed or shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the engine is not running")]
pub struct EngineGone;

impl EngineHandle {
    /// Queue a generation; events arrive on the returned receiver. Dropping the receiver
    /// cancels the generation within one decode step.
    pub fn generate(
        &self,
        prompt: Vec<LlamaToken>,
        sampling: SamplingParams,
        max_tokens: Option<u32>,
        stop: Vec<String>,
        special: bool,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineGone> {
        let (events, rx) = mpsc::unbounded_channel();
        let job = Job {
            prompt,
            sampling,
            max_tokens,
            stop,
            special,
            events,
        };
        self.tx
            .send(Command::Generate(job))
            .map_err(|_| EngineGone)?;
        Ok(rx)
    }

    /// Compute embeddings for already tokenised inputs.
    pub async fn embed(&self, inputs: Vec<Vec<LlamaToken>>) -> Result<Vec<Vec<f32>>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Embed(EmbedJob { inputs, reply }))
            .map_err(|_| EngineGone.to_string())?;
        rx.await.map_err(|_| EngineGone.to_string())?
    }

    /// Ask the engine thread to end every generation and stop; `false` when it already has.
    pub fn shutdown(&self) -> bool {
        self.tx.send(Command::Shutdown).is_ok()
    }

    /// The latest slot snapshot (updated by the engine after every step).
    pub fn status(&self) -> EngineStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}
