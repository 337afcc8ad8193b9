//! The engine loop: continuous batching over the slots.
//!
//! Each step puts one token per generating slot and prefill chunks of waiting prompts (first
//! come, first served) into one batch of at most `batch` tokens, decodes it once, then samples
//! for every sequence that produced logits. Requests join when a slot is free and leave as soon
//! as they finish or their client goes away, so the step after a disconnect no longer carries
//! that sequence. A new request goes to the free slot whose cached tokens share the longest
//! prefix with its prompt, and only the tokens after that prefix are evaluated (with one KV
//! stream per slot, `packing` keeps the generating slots on consecutive sequence ids).
//!
//! A [`Command::Shutdown`] ends every queued and running generation with a failure event and
//! returns, so the context is freed on this thread before the process exits.

use super::slot::{Slot, common_prefix};
use super::{Command, EngineStatus, Event, Finish, Job};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError};

/// What queued and running requests are told when the engine stops.
const SHUTTING_DOWN: &str = "the engine is shutting down";

/// How the scheduler batches, from [`crate::args::Tuning`] and the model.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Keep generating slots on consecutive sequence ids (per-slot KV streams only).
    pub packing: bool,
    /// Sample from the logits directly where that gives llama.cpp's token.
    pub fast_sampling: bool,
}

pub(super) struct Scheduler<'m> {
    pub(super) ctx: LlamaContext<'m>,
    pub(super) model: &'m LlamaModel,
    pub(super) slots: Vec<Slot>,
    queue: VecDeque<Job>,
    pub(super) batch: LlamaBatch<'static>,
    batch_size: usize,
    pub(super) n_ctx_slot: usize,
    clock: u64,
    status: Arc<Mutex<EngineStatus>>,
    /// End-of-generation tokens (sorted), for `ignore_eos`.
    eog: Vec<LlamaToken>,
    pub(super) policy: Policy,
    /// A shutdown was asked for.
    stopping: bool,
}

impl<'m> Scheduler<'m> {
    pub(super) fn new(
        ctx: LlamaContext<'m>,
        model: &'m LlamaModel,
        parallel: usize,
        n_ctx_slot: usize,
        batch_size: usize,
        status: Arc<Mutex<EngineStatus>>,
        policy: Policy,
    ) -> Self {
        let slots = (0..parallel)
            .map(|i| Slot::new(i32::try_from(i).unwrap_or(i32::MAX)))
            .collect();
        let seqs = i32::try_from(parallel).unwrap_or(i32::MAX);
        let vocab = model.vocab();
        let eog = (0..model.n_vocab())
            .map(LlamaToken)
            .filter(|t| vocab.is_eog(*t))
            .collect();
        let this = Self {
            ctx,
            model,
            slots,
            queue: VecDeque::new(),
            batch: LlamaBatch::new(batch_size, seqs),
            batch_size,
            n_ctx_slot,
            clock: 0,
            status,
            eog,
            policy,
            stopping: false,
        };
        this.publish();
        this
    }

    /// Run until a shutdown command or until every handle is dropped.
    pub(super) fn run(mut self, rx: &mut UnboundedReceiver<Command>) {
        loop {
            let idle = self.queue.is_empty() && self.slots.iter().all(|s| s.active.is_none());
            if idle {
                self.publish();
                match rx.blocking_recv() {
                    Some(cmd) => self.accept(cmd),
                    None => return,
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(cmd) => self.accept(cmd),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if self.stopping {
                self.stop_all();
                return;
            }
            self.drop_cancelled();
            self.compact();
            self.assign();
            self.publish();
            self.step();
            self.publish();
        }
    }

    fn accept(&mut self, cmd: Command) {
        match cmd {
            // A job needs one prompt token to produce the first logits.
            Command::Generate(job) if job.prompt.is_empty() => {
                let _ = job
                    .events
                    .send(Event::Failed("the prompt is empty".to_string()));
            }
            Command::Generate(job) if self.stopping => {
                let _ = job.events.send(Event::Failed(SHUTTING_DOWN.to_string()));
            }
            Command::Generate(job) => self.queue.push_back(job),
            Command::Embed(job) => self.embed(job),
            Command::Shutdown => self.stopping = true,
        }
    }

    /// End every queued and running generation: the engine is stopping.
    fn stop_all(&mut self) {
        for job in self.queue.drain(..) {
            let _ = job.events.send(Event::Failed(SHUTTING_DOWN.to_string()));
        }
        for slot in &mut self.slots {
            slot.fail(SHUTTING_DOWN);
        }
        self.publish();
        tracing::debug!("Engine stopping");
    }

    pub(super) fn publish(&self) {
        let snapshot = EngineStatus {
            slots: self
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| s.status(i))
                .collect(),
            queued: self.queue.len(),
        };
        match self.status.lock() {
            Ok(mut s) => *s = snapshot,
            Err(e) => *e.into_inner() = snapshot,
        }
    }

    /// Free the slots (and queue places) of clients that went away. The KV entries already
    /// computed stay: they are valid for the tokens in `cached`.
    fn drop_cancelled(&mut self) {
        self.queue.retain(|job| !job.events.is_closed());
        for slot in &mut self.slots {
            if slot.is_cancelled() {
                tracing::debug!(seq = slot.seq, "Client gone, freeing slot");
                slot.active = None;
            }
        }
    }

    /// Give waiting jobs free slots: the one with the longest cached prefix, else the least
    /// recently used one (with packing, among the slots next to the generating ones).
    fn assign(&mut self) {
        while let Some(job) = self.queue.pop_front() {
            let Some(index) = self.choose_slot(&job.prompt) else {
                self.queue.push_front(job);
                break;
            };
            let prefix = self
                .slots
                .get(index)
                .map_or(0, |s| common_prefix(&s.cached, &job.prompt));
            self.start(index, prefix, job);
        }
    }

    fn start(&mut self, index: usize, prefix: usize, job: Job) {
        self.clock += 1;
        // At least the last prompt token is evaluated again: its logits give the first token.
        let keep = prefix.min(job.prompt.len().saturating_sub(1));
        let sampler = match job
            .sampling
            .sampler(self.model, &self.eog, self.policy.fast_sampling)
        {
            Ok(sampler) => sampler,
            Err(message) => {
                let _ = job.events.send(Event::Failed(message));
                return;
            }
        };
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if keep < slot.cached.len() {
            let removed = u32::try_from(keep)
                .ok()
                .map(|p0| self.ctx.kv_cache_seq_rm(slot.seq, Some(p0), None));
            match removed {
                Some(Ok(())) => slot.cached.truncate(keep),
                _ => {
                    // Some caches (recurrent models) cannot drop a tail: start over.
                    let seq = u32::try_from(slot.seq).ok();
                    let _ = self.ctx.clear_kv_cache_seq(seq, None, None);
                    slot.cached.clear();
                }
            }
        }
        slot.last_used = self.clock;
        tracing::debug!(
            seq = slot.seq,
            prompt = job.prompt.len(),
            reused = slot.cached.len(),
            "Request assigned"
        );
        slot.activate(job, sampler, self.clock);
    }

    /// One decode over every active sequence.
    fn step(&mut self) {
        self.batch.clear();
        let mut budget = self.batch_size;
        // (slot index, batch index) of each sequence whose logits we need.
        let mut outputs: Vec<(usize, i32)> = Vec::new();
        // (slot index, tokens added from the prompt, whether a generated token was added)
        let mut added: Vec<(usize, usize, bool)> = Vec::new();

        for (i, slot) in self.slots.iter().enumerate() {
            let Some(tok) = slot.active.as_ref().and_then(|a| a.pending) else {
                continue;
            };
            let pos = i32::try_from(slot.cached.len()).unwrap_or(i32::MAX);
            if self.batch.add(tok, pos, &[slot.seq], true).is_err() {
                break;
            }
            outputs.push((i, self.batch.n_tokens() - 1));
            added.push((i, 0, true));
            budget = budget.saturating_sub(1);
        }

        let mut prefilling: Vec<(u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let a = s.active.as_ref()?;
                (a.pending.is_none() && a.prompt_done.is_none()).then_some((a.admitted, i))
            })
            .collect();
        prefilling.sort_unstable();
        for (_, i) in prefilling {
            if budget == 0 {
                break;
            }
            let Some(slot) = self.slots.get(i) else {
                continue;
            };
            let Some(a) = slot.active.as_ref() else {
                continue;
            };
            let start = slot.cached.len();
            let n = a.prompt.len().saturating_sub(start).min(budget);
            let mut count = 0;
            for (k, tok) in a.prompt[start..start + n].iter().enumerate() {
                let pos = start + k;
                let last = pos + 1 == a.prompt.len();
                let pos = i32::try_from(pos).unwrap_or(i32::MAX);
                if self.batch.add(*tok, pos, &[slot.seq], last).is_err() {
                    break;
                }
                count += 1;
                if last {
                    outputs.push((i, self.batch.n_tokens() - 1));
                }
            }
            added.push((i, count, false));
            budget = budget.saturating_sub(count);
        }

        if self.batch.n_tokens() == 0 {
            return;
        }
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            tracing::error!(error = %e, tokens = self.batch.n_tokens(), "Decode failed");
            for (i, _, _) in added {
                if let Some(slot) = self.slots.get_mut(i) {
                    let seq = u32::try_from(slot.seq).ok();
                    let _ = self.ctx.clear_kv_cache_seq(seq, None, None);
                    slot.cached.clear();
                    slot.fail("the engine could not evaluate this request");
                }
            }
            return;
        }

        for (i, n, generated) in added {
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            if generated {
                if let Some(tok) = a.pending.take() {
                    slot.cached.push(tok);
                }
            } else {
                let start = slot.cached.len();
                slot.cached.extend_from_slice(&a.prompt[start..start + n]);
            }
        }
        for (i, index) in outputs {
            self.sample(i, index);
        }
    }

    /// Sample the next token of slot `i` from batch output `index` and pass its text on.
    fn sample(&mut self, i: usize, index: i32) {
        let vocab = self.model.vocab();
        let n_ctx_slot = self.n_ctx_slot;
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let cached = slot.cached.len();
        let Some(a) = slot.active.as_mut() else {
            return;
        };
        if a.prompt_done.is_none() {
            a.prompt_done = Some(Instant::now());
        }
        let tok = a.sampler.sample(&self.ctx, index);
        a.generated += 1;
        if vocab.is_eog(tok) {
            slot.finish(Finish::Stop, false);
            return;
        }
        let piece = vocab.token_to_piece(tok, a.special, None);
        let pushed = a.text.push(&piece);
        if !pushed.text.is_empty() && a.events.send(Event::Text(pushed.text)).is_err() {
            slot.active = None;
            return;
        }
        if pushed.stopped {
            slot.finish(Finish::Stop, true);
        } else if a.max_tokens.is_some_and(|m| a.generated >= m as usize) || cached >= n_ctx_slot {
            slot.finish(Finish::Length, false);
        } else {
            a.pending = Some(tok);
        }
    }
}
