//! Embeddings on the engine thread: each input is evaluated alone in sequence 0 and its pooled
//! vector is L2-normalised (as OpenAI's and llama-server's embeddings are).

use super::EmbedJob;
use super::scheduler::Scheduler;

impl Scheduler<'_> {
    pub(super) fn embed(&mut self, job: EmbedJob) {
        let result = job
            .inputs
            .iter()
            .map(|tokens| self.embed_one(tokens))
            .collect::<Result<Vec<_>, _>>();
        let _ = job.reply.send(result);
    }

    fn embed_one(&mut self, tokens: &[llama_cpp_2::token::LlamaToken]) -> Result<Vec<f32>, String> {
        if tokens.is_empty() {
            return Err("input is empty".to_string());
        }
        if tokens.len() > self.n_ctx_slot {
            return Err(format!(
                "input is {} tokens long, more than the context of {} tokens",
                tokens.len(),
                self.n_ctx_slot
            ));
        }
        self.ctx.clear_kv_cache();
        for slot in &mut self.slots {
            slot.cached.clear();
        }
        self.batch.clear();
        self.batch
            .add_sequence(tokens, 0, true)
            .map_err(|e| format!("cannot batch the input: {e}"))?;
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| format!("cannot evaluate the input: {e}"))?;
        let last = self.batch.n_tokens() - 1;
        let raw = match self.ctx.embeddings_seq_ith(0) {
            Ok(v) => v.to_vec(),
            Err(_) => self
                .ctx
                .embeddings_ith(last)
                .map_err(|e| format!("the model produced no embedding: {e}"))?
                .to_vec(),
        };
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        Ok(if norm > 0.0 {
            raw.iter().map(|x| x / norm).collect()
        } else {
            raw
        })
    }
}
