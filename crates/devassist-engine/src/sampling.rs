//! Sampling parameters and the llama.cpp sampler chain built from them. The chain order is
//! llama.cpp's default (penalties → top-k → top-p → min-p → temperature → draw); temperature 0
//! (or below) is greedy and therefore deterministic.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;

/// llama.cpp's `LLAMA_DEFAULT_SEED`: the sampler then seeds itself randomly.
const RANDOM_SEED: u32 = u32::MAX;

/// Per-request sampling settings. Defaults follow the OpenAI API for temperature and top-p
/// (1.0) and llama-server for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    pub min_p: f32,
    /// 1.0 disables the repetition penalty.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub repeat_last_n: i32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// Fixed seed for reproducible sampling; random when `None`.
    pub seed: Option<u32>,
    /// Never end on an end-of-generation token (llama-server's `ignore_eos`). Ignored with
    /// a grammar, which decides when the answer is complete.
    pub ignore_eos: bool,
    /// A llama.cpp (GBNF) grammar every generated token must keep to: structured output.
    pub grammar: Option<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
            ignore_eos: false,
            grammar: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: always the most likely token.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Reject values llama.cpp would misbehave on; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("min_p", self.min_p),
            ("repeat_penalty", self.repeat_penalty),
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ];
        if let Some((name, _)) = finite.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("'{name}' must be a finite number"));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err("'top_p' must be between 0 and 1".to_string());
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err("'min_p' must be between 0 and 1".to_string());
        }
        if self.repeat_penalty <= 0.0 {
            return Err("'repeat_penalty' must be greater than 0".to_string());
        }
        Ok(())
    }

    /// The sampler chain for one sequence; `eog` lists the end-of-generation tokens, banned
    /// when `ignore_eos` is set. The grammar, if any, comes first: every later stage and the
    /// draw only see tokens it allows. Fails only on a grammar llama.cpp rejects.
    pub(crate) fn sampler(
        &self,
        model: &LlamaModel,
        eog: &[LlamaToken],
    ) -> Result<LlamaSampler, String> {
        let n_vocab = model.n_vocab();
        let mut chain = Vec::new();
        if let Some(grammar) = &self.grammar {
            let sampler = LlamaSampler::grammar(model, grammar, "root")
                .map_err(|e| format!("the grammar was rejected: {e}"))?;
            chain.push(sampler);
        }
        // With a grammar, banning end-of-generation could leave no allowed token at all
        // once the structure is complete.
        if self.ignore_eos && self.grammar.is_none() && !eog.is_empty() {
            let bans: Vec<LlamaLogitBias> = eog
                .iter()
                .map(|t| LlamaLogitBias::new(*t, f32::NEG_INFINITY))
                .collect();
            chain.push(LlamaSampler::logit_bias(n_vocab, &bans));
        }
        let penalised = self.repeat_penalty != 1.0
            || self.presence_penalty != 0.0
            || self.frequency_penalty != 0.0;
        if penalised && self.repeat_last_n != 0 {
            chain.push(LlamaSampler::penalties(
                n_vocab,
                self.repeat_last_n.max(0),
                self.repeat_penalty,
                self.frequency_penalty,
                self.presence_penalty,
            ));
        }
        if self.is_greedy() {
            chain.push(LlamaSampler::greedy());
        } else {
            if self.top_k > 0 {
                chain.push(LlamaSampler::top_k(self.top_k));
            }
            if self.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(self.top_p, 1));
            }
            if self.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(self.min_p, 1));
            }
            chain.push(LlamaSampler::temp(self.temperature));
            chain.push(LlamaSampler::dist(self.seed.unwrap_or(RANDOM_SEED)));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }
}
