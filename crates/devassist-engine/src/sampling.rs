//! Sampling parameters and the sampler built from them. The chain order is llama.cpp's default
//! (penalties → top-k → top-p → min-p → temperature → draw); temperature 0 (or below) is greedy
//! and therefore deterministic.
//!
//! llama.cpp's sampler copies the whole vocabulary into a candidate array for every sequence
//! at every step (128k entries for Llama 3). Requests without a grammar or penalties take a
//! fast path that reads the logits directly and picks the same token: an argmax when greedy,
//! else the top-k candidates, handed to the rest of llama.cpp's chain.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
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

    fn penalised(&self) -> bool {
        (self.repeat_penalty != 1.0
            || self.presence_penalty != 0.0
            || self.frequency_penalty != 0.0)
            && self.repeat_last_n != 0
    }

    /// The sampler for one sequence; `eog` lists the end-of-generation tokens (sorted), banned
    /// when `ignore_eos` is set. `fast` allows the paths that skip llama.cpp's full candidate
    /// array where they give the same token. Fails only on a grammar llama.cpp rejects.
    pub(crate) fn sampler(
        &self,
        model: &LlamaModel,
        eog: &[LlamaToken],
        fast: bool,
    ) -> Result<Sampler, String> {
        let n_vocab = usize::try_from(model.n_vocab()).unwrap_or(0);
        if fast && self.grammar.is_none() && !self.penalised() {
            let banned = if self.ignore_eos {
                eog.to_vec()
            } else {
                Vec::new()
            };
            if self.is_greedy() {
                return Ok(Sampler::Greedy { banned });
            }
            let k = usize::try_from(self.top_k).unwrap_or(0);
            if k > 0 && k < n_vocab {
                let mut rest = Vec::new();
                self.push_after_top_k(&mut rest);
                return Ok(Sampler::TopK {
                    k,
                    banned,
                    rest: LlamaSampler::chain_simple(rest),
                    best: Vec::with_capacity(k),
                });
            }
        }
        self.chain(model, eog).map(Sampler::Chain)
    }

    /// The stages after top-k: top-p, min-p, temperature, the seeded draw.
    fn push_after_top_k(&self, chain: &mut Vec<LlamaSampler>) {
        if self.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(self.top_p, 1));
        }
        if self.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(self.min_p, 1));
        }
        chain.push(LlamaSampler::temp(self.temperature));
        chain.push(LlamaSampler::dist(self.seed.unwrap_or(RANDOM_SEED)));
    }

    /// llama.cpp's sampler chain. The grammar, if any, comes first: every later stage and the
    /// draw only see tokens it allows.
    fn chain(&self, model: &LlamaModel, eog: &[LlamaToken]) -> Result<LlamaSampler, String> {
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
        if self.penalised() {
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
            self.push_after_top_k(&mut chain);
        }
        Ok(LlamaSampler::chain_simple(chain))
    }
}

/// One sequence's sampler.
pub(crate) enum Sampler {
    /// The most likely token that is not banned; ties go to the lowest id, as in llama.cpp's
    /// greedy sampler.
    Greedy { banned: Vec<LlamaToken> },
    /// The `k` most likely tokens that are not banned, sorted, then `rest` (top-p, min-p,
    /// temperature, draw) over them: what llama.cpp's top-k stage would have left.
    TopK {
        k: usize,
        banned: Vec<LlamaToken>,
        rest: LlamaSampler,
        /// Scratch: (logit, token) of the best candidates so far.
        best: Vec<(f32, i32)>,
    },
    /// llama.cpp's chain over the whole vocabulary (grammars, penalties, no top-k).
    Chain(LlamaSampler),
}

impl Sampler {
    /// The next token from batch output `idx` of the last decode.
    pub(crate) fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        match self {
            Self::Chain(chain) => chain.sample(ctx, idx),
            Self::Greedy { banned } => LlamaToken(argmax(ctx.get_logits_ith(idx), banned)),
            Self::TopK {
                k,
                banned,
                rest,
                best,
            } => {
                top_k(ctx.get_logits_ith(idx), banned, *k, best);
                let data = best
                    .iter()
                    .map(|&(logit, id)| LlamaTokenData::new(LlamaToken(id), logit, 0.0))
                    .collect();
                let mut candidates = LlamaTokenDataArray::new(data, true);
                candidates.apply_sampler(rest);
                let token = candidates
                    .selected_token()
                    .or_else(|| best.first().map(|&(_, id)| LlamaToken(id)))
                    .unwrap_or(LlamaToken(0));
                rest.accept(token);
                token
            }
        }
    }
}

fn is_banned(banned: &[LlamaToken], id: usize) -> bool {
    !banned.is_empty()
        && i32::try_from(id).is_ok_and(|id| banned.binary_search(&LlamaToken(id)).is_ok())
}

/// llama.cpp's greedy choice after its logit bias of −∞ on `banned`: start from token 0 and
/// move to any later token whose logit is strictly greater, so the first of equal maxima wins
/// and a NaN at 0 is never left.
fn argmax(logits: &[f32], banned: &[LlamaToken]) -> i32 {
    let Some(&first) = logits.first() else {
        return 0;
    };
    if first.is_nan() {
        return argmax_scan(logits, banned);
    }
    // The largest logit, eight lanes at a time (this loop vectorises), then its first index.
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = logits.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &l) in lanes.iter_mut().zip(chunk) {
            *lane = if l > *lane { l } else { *lane };
        }
    }
    let max = lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &l| if l > m { l } else { m });
    match logits.iter().position(|&l| l == max) {
        Some(i) if !is_banned(banned, i) && max > f32::NEG_INFINITY => {
            i32::try_from(i).unwrap_or(0)
        }
        // The best is banned, or nothing beats −∞: the exact rule, one token at a time.
        _ => argmax_scan(logits, banned),
    }
}

fn argmax_scan(logits: &[f32], banned: &[LlamaToken]) -> i32 {
    let mut best = 0;
    let mut best_logit = match logits.first() {
        Some(&l) if !is_banned(banned, 0) => l,
        _ => f32::NEG_INFINITY,
    };
    for (i, &l) in logits.iter().enumerate().skip(1) {
        if l > best_logit && !is_banned(banned, i) {
            best = i;
            best_logit = l;
        }
    }
    i32::try_from(best).unwrap_or(0)
}

/// The `k` highest logits that are not banned, highest first (ties: lower id first), into `best`.
fn top_k(logits: &[f32], banned: &[LlamaToken], k: usize, best: &mut Vec<(f32, i32)>) {
    best.clear();
    if k == 0 {
        return;
    }
    // Index in `best` of its lowest logit once it is full.
    let mut low = 0;
    for (i, &l) in logits.iter().enumerate() {
        let id = i32::try_from(i).unwrap_or(i32::MAX);
        if best.len() == k {
            // Most tokens stop here: not better than the worst of the k kept.
            if l > best[low].0 && !is_banned(banned, i) {
                best[low] = (l, id);
                low = lowest(best);
            }
        } else if !l.is_nan() && !is_banned(banned, i) {
            best.push((l, id));
            if best.len() == k {
                low = lowest(best);
            }
        }
    }
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Index of the lowest logit (the highest id among equal ones, so a tie keeps the lower id).
fn lowest(best: &[(f32, i32)]) -> usize {
    let mut low = 0;
    for (j, c) in best.iter().enumerate().skip(1) {
        let cur = best[low];
        if c.0 < cur.0 || (c.0 == cur.0 && c.1 > cur.1) {
            low = j;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow_top_k(logits: &[f32], banned: &[LlamaToken], k: usize) -> Vec<(f32, i32)> {
        let mut all: Vec<(f32, i32)> = logits
            .iter()
            .enumerate()
            .filter(|(i, l)| !l.is_nan() && !is_banned(banned, *i))
            .map(|(i, &l)| (l, i as i32))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    /// A small deterministic generator, so the test needs no extra crate.
    fn logits(seed: u64, n: usize, levels: u64) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % levels) as f32 - (levels / 2) as f32
            })
            .collect()
    }

    #[test]
    fn argmax_is_llama_cpps_greedy_choice() {
        // Ties go to the first; banned tokens never win; token 0 banned still works.
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0], &[]), 1);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0], &[LlamaToken(1)]), 2);
        assert_eq!(argmax(&[5.0, 3.0, 4.0], &[LlamaToken(0)]), 2);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY], &[]), 0);
        assert_eq!(argmax(&[f32::NAN, 1.0, 2.0], &[]), 0);
        assert_eq!(argmax(&[1.0, f32::NAN, 2.0, 2.0, 0.5], &[]), 2);
        let long: Vec<f32> = (0..37).map(|i| (i % 11) as f32).collect();
        assert_eq!(argmax(&long, &[]), 10);
        assert_eq!(argmax(&long, &[LlamaToken(10)]), 21);
        for seed in 1..50 {
            let l = logits(seed, 1000, 40);
            let banned = [LlamaToken(3), LlamaToken(500), LlamaToken(999)];
            let expected = slow_top_k(&l, &banned, 1)[0].1;
            assert_eq!(argmax(&l, &banned), expected, "seed {seed}");
            assert_eq!(argmax_scan(&l, &banned), expected, "seed {seed}");
        }
    }

    #[test]
    fn top_k_matches_a_full_sort() {
        for seed in 1..200 {
            // Few distinct values, so ties are common.
            let l = logits(seed, 700, if seed % 2 == 0 { 30 } else { 100_000 });
            let banned = [LlamaToken((seed % 700) as i32)];
            for k in [1, 2, 40, 699, 700] {
                let mut best = Vec::new();
                top_k(&l, &banned, k, &mut best);
                assert_eq!(best, slow_top_k(&l, &banned, k), "seed {seed} k {k}");
            }
        }
    }
}
