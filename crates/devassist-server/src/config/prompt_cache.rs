//! `[prompt_cache]`: what the gateway does so that backends' prefix caches survive clients
//! that change their prompt's first lines on every request. Today: volatile lines, removed
//! from system prompts before the prompt is built (`pipeline/volatile.rs`).

use serde::Deserialize;

/// Claude Code's per-request billing line, the first system block since Claude Code 2.1.36:
/// `x-anthropic-billing-header: cc_version=…; cc_entrypoint=…; cch=<nonce>;`.
pub const CLAUDE_CODE_BILLING_LINE: &str = r"^x-anthropic-billing-header:";

#[derive(Debug, Default, Deserialize)]
pub struct RawPromptCache {
    /// Regular expressions (Rust `regex` syntax); a system-prompt line that any of them
    /// matches is removed before the prompt is built. Default: Claude Code's billing line.
    /// `[]` removes nothing.
    pub volatile_lines: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct PromptCacheSettings {
    pub volatile_lines: Vec<regex::Regex>,
}

impl Default for PromptCacheSettings {
    fn default() -> Self {
        Self {
            volatile_lines: regex::Regex::new(CLAUDE_CODE_BILLING_LINE)
                .into_iter()
                .collect(),
        }
    }
}

pub fn validate(raw: RawPromptCache, p: &mut impl FnMut(String, String)) -> PromptCacheSettings {
    let Some(patterns) = raw.volatile_lines else {
        return PromptCacheSettings::default();
    };
    let mut volatile_lines = Vec::with_capacity(patterns.len());
    for (i, pattern) in patterns.iter().enumerate() {
        if pattern.is_empty() {
            p(
                format!("prompt_cache.volatile_lines[{i}]"),
                "is empty (it would remove every line)".into(),
            );
            continue;
        }
        match regex::Regex::new(pattern) {
            Ok(r) => volatile_lines.push(r),
            Err(e) => p(
                format!("prompt_cache.volatile_lines[{i}]"),
                format!("`{pattern}` is not a regular expression: {e}"),
            ),
        }
    }
    PromptCacheSettings { volatile_lines }
}
