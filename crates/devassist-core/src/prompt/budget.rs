//! Fits a completion prompt into the model's context window.
//!
//! The prefix keeps its end and the suffix its start (the text nearest the cursor matters
//! most); other-file snippets have the lowest priority and are cut or dropped first. Cuts
//! fall on character boundaries always and on line boundaries when that costs little.
//! Sizes are measured on the fully rendered prompt, so FIM tokens, comment markers and
//! chat instructions are accounted for.

use super::input::FimInput;
use super::render::{FimFormat, render_fim};

/// Measures text in a model's tokens. The gateway uses an exact tokenizer where it has one
/// and [`EstimatingCounter`] otherwise. `count` must grow (weakly) with the text's length.
///
/// The provided `fit_*` methods binary-search with `count` (about 20 calls on a long text);
/// an exact implementation should override them to tokenize once and cut at token offsets.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;

    /// Byte length of the longest start of `text` that counts at most `max_tokens`.
    fn fit_start(&self, text: &str, max_tokens: usize) -> usize {
        if self.count(text) <= max_tokens {
            return text.len();
        }
        let bounds = char_bounds(text);
        // Invariant: bounds[lo] fits, bounds[hi] does not.
        let (mut lo, mut hi) = (0, bounds.len() - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.count(&text[..bounds[mid]]) <= max_tokens {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        bounds[lo]
    }

    /// Byte offset where the longest end of `text` that counts at most `max_tokens` begins.
    fn fit_end(&self, text: &str, max_tokens: usize) -> usize {
        if self.count(text) <= max_tokens {
            return 0;
        }
        let bounds = char_bounds(text);
        // Invariant: bounds[hi] fits, bounds[lo] does not.
        let (mut lo, mut hi) = (0, bounds.len() - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.count(&text[bounds[mid]..]) <= max_tokens {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        bounds[hi]
    }
}

/// Every char boundary of `text`, including its end.
fn char_bounds(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect()
}

/// Estimates tokens from characters, erring high for code: ASCII text at
/// `ascii_chars_per_token` (3 by default; code tokenizers average 3.5–4), every digit as a
/// whole token (Qwen and Llama 3 split numbers into single digits), and other characters at
/// one token per two UTF-8 bytes (one per accented letter, two per CJK character or emoji).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimatingCounter {
    ascii_chars_per_token: usize,
}

impl EstimatingCounter {
    pub fn new(ascii_chars_per_token: usize) -> Self {
        Self {
            ascii_chars_per_token: ascii_chars_per_token.max(1),
        }
    }

    /// Cost of one character in 1/`ascii_chars_per_token` token units.
    fn units(&self, c: char) -> usize {
        if c.is_ascii_digit() {
            self.ascii_chars_per_token
        } else if c.is_ascii() {
            1
        } else {
            self.ascii_chars_per_token * c.len_utf8().div_ceil(2)
        }
    }
}

impl Default for EstimatingCounter {
    fn default() -> Self {
        Self::new(3)
    }
}

impl TokenCounter for EstimatingCounter {
    fn count(&self, text: &str) -> usize {
        let units: usize = text.chars().map(|c| self.units(c)).sum();
        units.div_ceil(self.ascii_chars_per_token)
    }

    fn fit_start(&self, text: &str, max_tokens: usize) -> usize {
        let allowed = max_tokens.saturating_mul(self.ascii_chars_per_token);
        let mut used = 0usize;
        for (i, c) in text.char_indices() {
            used += self.units(c);
            if used > allowed {
                return i;
            }
        }
        text.len()
    }

    fn fit_end(&self, text: &str, max_tokens: usize) -> usize {
        let allowed = max_tokens.saturating_mul(self.ascii_chars_per_token);
        let mut used = 0usize;
        for (i, c) in text.char_indices().rev() {
            used += self.units(c);
            if used > allowed {
                return i + c.len_utf8();
            }
        }
        0
    }
}

/// The default share of the code budget the prefix gets when both sides must be cut.
///
/// GitLab gives the prefix 93 %; with a small context that leaves the suffix a handful of
/// lines, and the first lines after the cursor (closing brackets, the next declaration) are
/// what stops a model from writing them again. Continue and Tabby give the two sides roughly
/// equal room. Three quarters keeps most of the history above the cursor while still showing
/// the model the shape of what follows. A side that needs less than its share leaves the rest
/// to the other, so the split only matters when both sides are long.
pub const DEFAULT_PREFIX_SHARE: f64 = 0.75;

/// How much room a completion prompt has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimits {
    /// The model's context window in tokens.
    pub context_tokens: usize,
    /// Tokens reserved for the completion.
    pub max_output_tokens: usize,
    /// Share of the code budget for the prefix when both sides are cut, in `0.0..=1.0`.
    pub prefix_share: f64,
}

impl BudgetLimits {
    pub fn new(context_tokens: usize, max_output_tokens: usize) -> Self {
        Self {
            context_tokens,
            max_output_tokens,
            prefix_share: DEFAULT_PREFIX_SHARE,
        }
    }

    /// The most tokens the rendered prompt may take.
    pub fn input_limit(&self) -> usize {
        self.context_tokens.saturating_sub(self.max_output_tokens)
    }

    fn share(&self) -> f64 {
        if self.prefix_share.is_finite() {
            self.prefix_share.clamp(0.0, 1.0)
        } else {
            DEFAULT_PREFIX_SHARE
        }
    }
}

/// At most this many bytes are given up to cut on a line boundary instead of mid-line.
const MAX_SNAP_BYTES: usize = 200;
/// Rounds of fine-tuning for counters whose counts are not additive (real tokenizers).
const MAX_SHRINK_ROUNDS: usize = 16;

/// Trims `input` so that its rendered prompt counts at most `limits.input_limit()` tokens.
/// When even the prompt without any code is over the limit, returns the input without code.
pub fn budget(
    format: &FimFormat,
    input: &FimInput,
    counter: &dyn TokenCounter,
    limits: &BudgetLimits,
) -> FimInput {
    let limit = limits.input_limit();
    let size = |candidate: &FimInput| render_fim(format, candidate).count_tokens(counter);
    if size(input) <= limit {
        return input.clone();
    }
    let bare = input.without_code();
    let overhead = size(&bare);
    if overhead >= limit {
        return bare;
    }
    let code = limit - overhead;
    let (prefix_quota, suffix_quota) = split(
        code,
        counter.count(&input.prefix),
        counter.count(&input.suffix),
        limits.share(),
    );
    let mut out = bare.clone();
    out.prefix = keep_end(counter, &input.prefix, prefix_quota);
    out.suffix = keep_start(counter, &input.suffix, suffix_quota);
    add_snippets(input, &mut out, limit, &size);

    for _ in 0..MAX_SHRINK_ROUNDS {
        let total = size(&out);
        if total <= limit {
            return out;
        }
        if out.snippets.pop().is_some() {
            continue;
        }
        let over = total - limit;
        let prefix_tokens = counter.count(&out.prefix);
        let suffix_tokens = counter.count(&out.suffix);
        if prefix_tokens >= suffix_tokens {
            let target = prefix_tokens.saturating_sub(over.max(prefix_tokens / 8).max(1));
            out.prefix = keep_end(counter, &out.prefix, target);
        } else {
            let target = suffix_tokens.saturating_sub(over.max(suffix_tokens / 8).max(1));
            out.suffix = keep_start(counter, &out.suffix, target);
        }
    }
    if size(&out) <= limit { out } else { bare }
}

/// Token quotas for prefix and suffix out of `code` tokens.
fn split(code: usize, prefix: usize, suffix: usize, share: f64) -> (usize, usize) {
    if prefix.saturating_add(suffix) <= code {
        return (prefix, suffix);
    }
    let prefix_quota = ((code as f64 * share).ceil() as usize).min(code);
    let suffix_quota = code - prefix_quota;
    if prefix <= prefix_quota {
        (prefix, code - prefix)
    } else if suffix <= suffix_quota {
        (code - suffix, suffix)
    } else {
        (prefix_quota, suffix_quota)
    }
}

/// Adds snippets in priority order while the prompt fits; the first that does not fit is cut
/// to what fits and the rest are dropped.
fn add_snippets(
    input: &FimInput,
    out: &mut FimInput,
    limit: usize,
    size: &dyn Fn(&FimInput) -> usize,
) {
    for snippet in &input.snippets {
        out.snippets.push(snippet.clone());
        if size(out) <= limit {
            continue;
        }
        let bounds = char_bounds(&snippet.content);
        let fits = |end: usize, out: &mut FimInput| {
            if let Some(last) = out.snippets.last_mut() {
                last.content = snippet.content[..end].to_owned();
            }
            size(out) <= limit
        };
        // Invariant: bounds[lo] fits or is 0, bounds[hi] does not fit.
        let (mut lo, mut hi) = (0, bounds.len() - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(bounds[mid], out) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let kept = snap_start(&snippet.content[..bounds[lo]]);
        if kept.trim().is_empty() || !fits(kept.len(), out) {
            out.snippets.pop();
        }
        return;
    }
}

/// The end of `text` that fits in `max_tokens`, starting at a line when that costs little.
fn keep_end(counter: &dyn TokenCounter, text: &str, max_tokens: usize) -> String {
    if max_tokens == 0 {
        return String::new();
    }
    let start = counter.fit_end(text, max_tokens);
    let kept = &text[start..];
    if start == 0 || text[..start].ends_with('\n') {
        return kept.to_owned();
    }
    let slack = (kept.len() / 10).min(MAX_SNAP_BYTES);
    match kept.find('\n') {
        Some(nl) if nl < slack || kept.starts_with('\n') => kept[nl + 1..].to_owned(),
        _ => kept.to_owned(),
    }
}

/// The start of `text` that fits in `max_tokens`, ending at a line when that costs little.
fn keep_start(counter: &dyn TokenCounter, text: &str, max_tokens: usize) -> String {
    if max_tokens == 0 {
        return String::new();
    }
    let end = counter.fit_start(text, max_tokens);
    if end == text.len() {
        return text.to_owned();
    }
    snap_start(&text[..end]).to_owned()
}

/// Shortens a cut-off start of text to its last complete line when that costs little.
fn snap_start(kept: &str) -> &str {
    if kept.ends_with('\n') {
        return kept;
    }
    let slack = (kept.len() / 10).min(MAX_SNAP_BYTES);
    match kept.rfind('\n') {
        Some(nl) if kept.len() - (nl + 1) <= slack => &kept[..=nl],
        // Never leave half of a CRLF pair behind.
        _ => kept.strip_suffix('\r').unwrap_or(kept),
    }
}
