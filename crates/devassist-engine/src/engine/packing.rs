//! Slot packing: keep the generating slots on consecutive sequence ids.
//!
//! With one KV stream per slot (`kv_unified = false`), llama.cpp splits a batch into
//! micro-batches of sequences whose ids are consecutive (`split_equal(.., sequential)`), and
//! each micro-batch is a full pass over the weights: a step over slots {0, 2, 5} costs three
//! passes where {0, 1, 2} costs one. So a new request goes to a free slot next to the running
//! ones (after its cache was copied there from a slot with a longer matching prefix, when one
//! has a much longer one), and a slot that frees up inside the run is filled by moving the last
//! running slot into it. Moves copy whole KV streams on the device (llama.cpp's cross-stream
//! `seq_cp`), which costs far less than the passes they save; the cache left behind stays
//! valid for prefix reuse.
//!
//! This module only chooses slots and moves caches; it never evaluates tokens.

use super::scheduler::Scheduler;
use super::slot::common_prefix;
use llama_cpp_2::token::LlamaToken;

/// A cache is copied to the slot next to the run only when it saves at least this many prompt
/// tokens; a few tokens are cheaper to evaluate again than a whole stream is to copy.
const MIN_COPY_GAIN: usize = 32;

impl Scheduler<'_> {
    /// The slot for a new request with this prompt, or `None` when every slot is busy.
    pub(super) fn choose_slot(&mut self, prompt: &[LlamaToken]) -> Option<usize> {
        let best = self.best_free(prompt, |_| true)?;
        if !self.policy.packing {
            return Some(best.0);
        }
        let Some((lo, hi)) = self.active_range() else {
            return Some(best.0);
        };
        let next_to_run = |i: usize| i + 1 == lo || i == hi + 1;
        let Some(target) = self.best_free(prompt, next_to_run) else {
            // No free slot borders the run (it is not contiguous yet): anywhere will do.
            return Some(best.0);
        };
        if best.1 >= target.1 + MIN_COPY_GAIN {
            self.copy_cache(best.0, target.0);
        }
        Some(target.0)
    }

    /// The free slot (among those `allowed`) sharing the longest prefix with `prompt`, the
    /// least recently used among equals: (index, prefix length).
    fn best_free(
        &self,
        prompt: &[LlamaToken],
        allowed: impl Fn(usize) -> bool,
    ) -> Option<(usize, usize)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| s.active.is_none() && allowed(*i))
            .map(|(i, s)| (i, common_prefix(&s.cached, prompt), s.last_used))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .map(|(i, prefix, _)| (i, prefix))
    }

    /// Lowest and highest index of a running slot.
    fn active_range(&self) -> Option<(usize, usize)> {
        let mut running = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_some())
            .map(|(i, _)| i);
        let lo = running.next()?;
        Some((lo, running.next_back().unwrap_or(lo)))
    }

    /// Close the gaps between running slots: move the last running slot into the first free
    /// slot inside the run, until the run is contiguous. The cache of the freed slot (a request
    /// that just ended, likely to come back with a longer prompt) is first kept in the least
    /// recently used free slot outside the run, when there is one.
    pub(super) fn compact(&mut self) {
        if !self.policy.packing {
            return;
        }
        while let Some((lo, hi)) = self.active_range() {
            let Some(hole) =
                (lo..hi).find(|&i| self.slots.get(i).is_some_and(|s| s.active.is_none()))
            else {
                return;
            };
            let hole_cached = self.slots.get(hole).is_some_and(|s| !s.cached.is_empty());
            if hole_cached {
                let keep = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| s.active.is_none() && (*i < lo || *i > hi))
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(i, _)| i);
                if let Some(keep) = keep {
                    self.copy_cache(hole, keep);
                }
            }
            self.copy_cache(hi, hole);
            let (moved, last_used) = match self.slots.get_mut(hi) {
                Some(from) => (from.active.take(), from.last_used),
                None => return,
            };
            if let Some(to) = self.slots.get_mut(hole) {
                to.active = moved;
                to.last_used = last_used;
            }
            tracing::debug!(
                from = hi,
                to = hole,
                "Moved a running request to close a gap"
            );
        }
    }

    /// Make slot `to` hold a copy of slot `from`'s cache (KV stream and token list).
    fn copy_cache(&mut self, from: usize, to: usize) {
        let (Some(src), Some(dst)) = (self.slots.get(from), self.slots.get(to)) else {
            return;
        };
        if from == to {
            return;
        }
        let (src_seq, dst_seq) = (src.seq, dst.seq);
        let tokens = src.cached.clone();
        let last_used = src.last_used;
        let copied = self.ctx.copy_kv_cache_seq(src_seq, dst_seq, None, None);
        let Some(dst) = self.slots.get_mut(to) else {
            return;
        };
        match copied {
            Ok(()) => {
                dst.cached = tokens;
                dst.last_used = dst.last_used.max(last_used);
            }
            Err(e) => {
                tracing::warn!(error = %e, from, to, "Cannot copy a KV stream");
                let seq = u32::try_from(dst_seq).ok();
                let _ = self.ctx.clear_kv_cache_seq(seq, None, None);
                dst.cached.clear();
            }
        }
    }
}
