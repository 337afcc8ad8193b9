//! One parallel sequence of the context: the tokens its KV cache holds (for prefix reuse) and
//! the request it is serving, if any.

use super::{Event, Finish, Job, SlotState, SlotStatus, Summary};
use crate::sampling::Sampler;
use crate::text::TextStream;
use llama_cpp_2::token::LlamaToken;
use std::time::Instant;
use tokio::sync::mpsc;

pub(super) struct Slot {
    /// The llama.cpp sequence id.
    pub seq: i32,
    /// Tokens whose KV entries are in this sequence, positions `0..cached.len()`.
    pub cached: Vec<LlamaToken>,
    /// Logical clock of the last assignment (least recently used slots are evicted first).
    pub last_used: u64,
    pub active: Option<Active>,
}

/// The request a slot is serving.
pub(super) struct Active {
    pub prompt: Vec<LlamaToken>,
    pub events: mpsc::UnboundedSender<Event>,
    pub sampler: Sampler,
    pub max_tokens: Option<u32>,
    /// Render control tokens as text.
    pub special: bool,
    pub text: TextStream,
    /// The last sampled token, to be decoded in the next step; `None` while prefilling.
    pub pending: Option<LlamaToken>,
    pub generated: usize,
    pub cached_at_start: usize,
    /// Assignment order, for first-come prefill.
    pub admitted: u64,
    pub started: Instant,
    pub prompt_done: Option<Instant>,
}

/// Length of the common prefix of two token lists.
pub(super) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Slot {
    pub fn new(seq: i32) -> Self {
        Self {
            seq,
            cached: Vec::new(),
            last_used: 0,
            active: None,
        }
    }

    pub fn status(&self, id: usize) -> SlotStatus {
        let (state, n_prompt, n_generated) = match &self.active {
            None => (SlotState::Idle, 0, 0),
            Some(a) if a.pending.is_none() && a.prompt_done.is_none() => {
                (SlotState::Prefill, a.prompt.len(), 0)
            }
            Some(a) => (SlotState::Generating, a.prompt.len(), a.generated),
        };
        SlotStatus {
            id,
            state,
            n_cached: self.cached.len(),
            n_prompt,
            n_generated,
        }
    }

    /// Whether the active request's client is gone.
    pub fn is_cancelled(&self) -> bool {
        self.active.as_ref().is_some_and(|a| a.events.is_closed())
    }

    /// Send the rest of the text and the summary, and free the slot.
    pub fn finish(&mut self, finish: Finish, stopped_by_text: bool) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        if !stopped_by_text {
            let rest = a.text.finish();
            if !rest.is_empty() {
                let _ = a.events.send(Event::Text(rest));
            }
        }
        let now = Instant::now();
        let prompt_done = a.prompt_done.unwrap_or(now);
        let summary = Summary {
            finish,
            prompt_tokens: a.prompt.len(),
            cached_tokens: a.cached_at_start,
            completion_tokens: a.generated,
            prompt_ms: prompt_done.duration_since(a.started).as_secs_f64() * 1e3,
            predicted_ms: now.duration_since(prompt_done).as_secs_f64() * 1e3,
        };
        let _ = a.events.send(Event::Done(summary));
    }

    /// Fail the active request with a message.
    pub fn fail(&mut self, message: &str) {
        if let Some(a) = self.active.take() {
            let _ = a.events.send(Event::Failed(message.to_string()));
        }
    }

    /// Build the active state for a job.
    pub fn activate(&mut self, job: Job, sampler: Sampler, admitted: u64) {
        self.active = Some(Active {
            text: TextStream::new(job.stop),
            prompt: job.prompt,
            events: job.events,
            sampler,
            max_tokens: job.max_tokens,
            special: job.special,
            pending: None,
            generated: 0,
            cached_at_start: self.cached.len(),
            admitted,
            started: Instant::now(),
            prompt_done: None,
        });
    }
}
