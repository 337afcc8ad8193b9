//! The per-family table: FIM token layout and stop strings.
//!
//! Token layouts and stop strings are facts about how each model was trained (see
//! `shared/reference/fim-and-prompt-formats.md` §1–2). Stop strings are the family's special
//! tokens only: plain-text stops some clients add (`//` for DeepSeek, `t.` for StarCoder2,
//! `</code>`, `/src/`) also occur in ordinary code and would cut good completions short.

use super::family::PromptFamily;

/// Which side of the cursor comes first in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FimOrder {
    /// Prefix, suffix, then the model writes the middle.
    PrefixSuffixMiddle,
    /// Suffix first, then the prefix, which the model continues.
    SuffixPrefixMiddle,
}

/// The tokens around each part of a FIM prompt, including any spaces the family expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FimTokens {
    pub order: FimOrder,
    pub prefix: &'static str,
    pub suffix: &'static str,
    pub middle: &'static str,
}

impl FimTokens {
    /// Lays out a prompt from an already-assembled prefix and suffix.
    pub fn wrap(&self, prefix: &str, suffix: &str) -> String {
        let mut out = String::with_capacity(prefix.len() + suffix.len() + 48);
        match self.order {
            FimOrder::PrefixSuffixMiddle => {
                for part in [self.prefix, prefix, self.suffix, suffix, self.middle] {
                    out.push_str(part);
                }
            }
            FimOrder::SuffixPrefixMiddle => {
                for part in [self.suffix, suffix, self.prefix, prefix, self.middle] {
                    out.push_str(part);
                }
            }
        }
        out
    }
}

const PIPE_FIM: FimTokens = FimTokens {
    order: FimOrder::PrefixSuffixMiddle,
    prefix: "<|fim_prefix|>",
    suffix: "<|fim_suffix|>",
    middle: "<|fim_middle|>",
};

const STARCODER_FIM: FimTokens = FimTokens {
    order: FimOrder::PrefixSuffixMiddle,
    prefix: "<fim_prefix>",
    suffix: "<fim_suffix>",
    middle: "<fim_middle>",
};

/// The FIM tokens of a family; `None` for chat-only families.
pub fn fim_tokens(family: PromptFamily) -> Option<FimTokens> {
    match family {
        PromptFamily::Codestral => Some(FimTokens {
            order: FimOrder::SuffixPrefixMiddle,
            prefix: "[PREFIX]",
            suffix: "[SUFFIX]",
            middle: "",
        }),
        PromptFamily::CodeLlama => Some(FimTokens {
            order: FimOrder::PrefixSuffixMiddle,
            prefix: "<PRE> ",
            suffix: " <SUF>",
            middle: " <MID>",
        }),
        PromptFamily::DeepSeekCoder => Some(FimTokens {
            order: FimOrder::PrefixSuffixMiddle,
            prefix: "<｜fim▁begin｜>",
            suffix: "<｜fim▁hole｜>",
            middle: "<｜fim▁end｜>",
        }),
        PromptFamily::CodeGemma | PromptFamily::QwenCoder | PromptFamily::Granite => Some(PIPE_FIM),
        PromptFamily::StarCoder | PromptFamily::StarCoder2 => Some(STARCODER_FIM),
        PromptFamily::MistralInstruct | PromptFamily::Llama3 | PromptFamily::GenericChat => None,
    }
}

/// The family's own stop strings: its FIM, file-separator and end-of-text tokens.
pub fn stop_words(family: PromptFamily) -> &'static [&'static str] {
    match family {
        PromptFamily::Codestral => &[
            "[PREFIX]", "[SUFFIX]", "[MIDDLE]", "[INST]", "[/INST]", "</s>",
        ],
        PromptFamily::CodeGemma => &[
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            "<|file_separator|>",
            "<end_of_turn>",
            "<eos>",
        ],
        PromptFamily::CodeLlama => &["<PRE>", "<SUF>", "<MID>", "<EOT>"],
        PromptFamily::DeepSeekCoder => &[
            "<｜fim▁begin｜>",
            "<｜fim▁hole｜>",
            "<｜fim▁end｜>",
            "<｜end▁of▁sentence｜>",
        ],
        PromptFamily::StarCoder => &[
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
            "<file_sep>",
            "<|endoftext|>",
            "</fim_middle>",
        ],
        PromptFamily::StarCoder2 => &[
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
            "<file_sep>",
            "<repo_name>",
            "<|endoftext|>",
            "</fim_middle>",
        ],
        PromptFamily::QwenCoder => &[
            "<|endoftext|>",
            "<|fim_prefix|>",
            "<|fim_middle|>",
            "<|fim_suffix|>",
            "<|fim_pad|>",
            "<|repo_name|>",
            "<|file_sep|>",
            "<|im_start|>",
            "<|im_end|>",
        ],
        PromptFamily::Granite => &[
            "<|end_of_text|>",
            "<|fim_prefix|>",
            "<|fim_middle|>",
            "<|fim_suffix|>",
            "<|fim_pad|>",
        ],
        PromptFamily::MistralInstruct => &["[INST]", "[/INST]", "</s>"],
        PromptFamily::Llama3 => &["<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"],
        PromptFamily::GenericChat => &[],
    }
}

/// Stops added to every FIM prompt: a Markdown fence or a Python encoding line mean the model
/// has left the file it was completing. Not used for chat prompts, whose answers often come
/// fenced (post-processing strips the fences), nor for Markdown files, where fences are content.
pub const COMMON_EXTRA_STOPS: &[&str] = &["```", "#- coding: utf-8"];

/// Added for Codestral when the prompt carries `+++++ path` file headers: a new header
/// means the model has started writing another file.
pub const CODESTRAL_FILE_HEADER_STOP: &str = "\n+++++ ";
