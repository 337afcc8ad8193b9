//! Which post-processing steps run, per model (`[models.x.prompt.postprocess]`).

use serde::{Deserialize, Serialize};

/// Post-processing switches. Every step is on by default except the line limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostprocessOptions {
    /// Cut completions at the first stop string (FIM and end-of-text tokens, family and
    /// configured stop words), also when the upstream ignored the stop list.
    pub stop_at_stop_words: bool,
    /// Drop the end of a completion that repeats the start of the suffix.
    pub trim_suffix_overlap: bool,
    /// Trim whitespace at the end of the text; whitespace-only results become empty.
    pub trim_trailing_whitespace: bool,
    /// Keep at most this many lines of a completion.
    pub max_lines: Option<usize>,
    /// Strip Markdown code fences from generations and from chat-model completions.
    pub strip_markdown_fences: bool,
    /// Strip prose lines around the code ("Here is the code:") from generations and
    /// chat-model completions.
    pub strip_chatter: bool,
}

impl Default for PostprocessOptions {
    fn default() -> Self {
        Self {
            stop_at_stop_words: true,
            trim_suffix_overlap: true,
            trim_trailing_whitespace: true,
            max_lines: None,
            strip_markdown_fences: true,
            strip_chatter: true,
        }
    }
}

impl PostprocessOptions {
    /// Every step off: the model's text passes through untouched.
    pub fn none() -> Self {
        Self {
            stop_at_stop_words: false,
            trim_suffix_overlap: false,
            trim_trailing_whitespace: false,
            max_lines: None,
            strip_markdown_fences: false,
            strip_chatter: false,
        }
    }
}
