//! Fill-in-the-middle token detection: from the `tokenizer.ggml.fim_*` ids when the file has
//! them, else from the well-known token spellings of the code-model families (the same list
//! llama.cpp's vocabulary loader uses).

use crate::value::MetaValue;
use std::collections::BTreeMap;

/// A special token: its id and its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Token {
    pub id: u32,
    pub text: String,
}

/// The tokens a model uses for fill-in-the-middle prompts (`PRE prefix SUF suffix MID`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FimTokens {
    pub prefix: Token,
    pub suffix: Token,
    pub middle: Token,
    /// Padding token some families use (`<|fim_pad|>`), when present.
    pub pad: Option<Token>,
}

/// Metadata keys for each role, newest spelling first.
const PRE_KEYS: &[&str] = &[
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.prefix_token_id",
];
const SUF_KEYS: &[&str] = &[
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.suffix_token_id",
];
const MID_KEYS: &[&str] = &[
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.middle_token_id",
];
const PAD_KEYS: &[&str] = &["tokenizer.ggml.fim_pad_token_id"];

/// Well-known spellings, one per family, in the same order in each list.
const PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",  // Qwen2.5-Coder, Granite
    "<fim-prefix>",    // SantaCoder
    "<fim_prefix>",    // StarCoder, Codegemma-style
    "<｜fim▁begin｜>", // DeepSeek-Coder
    "<PRE>",           // CodeLlama
    "▁<PRE>",          // CodeLlama (sentencepiece spelling)
    "[PREFIX]",        // Codestral
    "<|code_prefix|>", // GLM-4
];
const SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "[SUFFIX]",
    "<|code_suffix|>",
];
const MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "[MIDDLE]",
    "<|code_middle|>",
];
const PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>"];

/// Find the FIM tokens: all three of prefix, suffix and middle, or none.
pub(crate) fn detect(
    metadata: &BTreeMap<String, MetaValue>,
    tokens: Option<&[String]>,
) -> Option<FimTokens> {
    let tokens = tokens.unwrap_or(&[]);
    let by_keys = (|| {
        Some(FimTokens {
            prefix: from_keys(metadata, tokens, PRE_KEYS)?,
            suffix: from_keys(metadata, tokens, SUF_KEYS)?,
            middle: from_keys(metadata, tokens, MID_KEYS)?,
            pad: from_keys(metadata, tokens, PAD_KEYS).or_else(|| from_texts(tokens, PAD_TEXTS)),
        })
    })();
    by_keys.or_else(|| {
        // The three spellings must come from the same family, so search family by family.
        (0..PRE_TEXTS.len()).find_map(|family| {
            Some(FimTokens {
                prefix: from_texts(tokens, &PRE_TEXTS[family..=family])?,
                suffix: from_texts(tokens, &SUF_TEXTS[family..=family])?,
                middle: from_texts(tokens, &MID_TEXTS[family..=family])?,
                pad: from_texts(tokens, PAD_TEXTS),
            })
        })
    })
}

/// Resolve a token id stored under one of `keys` to its text.
pub(crate) fn from_keys(
    metadata: &BTreeMap<String, MetaValue>,
    tokens: &[String],
    keys: &[&str],
) -> Option<Token> {
    keys.iter().find_map(|key| {
        let id = u32::try_from(metadata.get(*key)?.as_u64()?).ok()?;
        let text = tokens.get(usize::try_from(id).ok()?)?.clone();
        Some(Token { id, text })
    })
}

fn from_texts(tokens: &[String], texts: &[&str]) -> Option<Token> {
    texts.iter().find_map(|want| {
        let index = tokens.iter().position(|t| t == want)?;
        Some(Token {
            id: u32::try_from(index).ok()?,
            text: (*want).to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_string()).collect()
    }

    #[test]
    fn finds_qwen_spelling_by_text() {
        let tokens = vocab(&[
            "a",
            "<|fim_prefix|>",
            "<|fim_middle|>",
            "<|fim_suffix|>",
            "<|fim_pad|>",
        ]);
        let fim = detect(&BTreeMap::new(), Some(&tokens));
        let fim = fim.as_ref().map(|f| {
            (
                f.prefix.id,
                f.suffix.id,
                f.middle.id,
                f.pad.as_ref().map(|p| p.id),
            )
        });
        assert_eq!(fim, Some((1, 3, 2, Some(4))));
    }

    #[test]
    fn ids_from_metadata_win() {
        let tokens = vocab(&["x", "y", "z", "<PRE>", "<SUF>", "<MID>"]);
        let mut md = BTreeMap::new();
        md.insert(
            "tokenizer.ggml.fim_pre_token_id".to_string(),
            MetaValue::U32(0),
        );
        md.insert(
            "tokenizer.ggml.fim_suf_token_id".to_string(),
            MetaValue::U32(1),
        );
        md.insert(
            "tokenizer.ggml.fim_mid_token_id".to_string(),
            MetaValue::U32(2),
        );
        let fim = detect(&md, Some(&tokens));
        assert_eq!(fim.map(|f| f.prefix.text), Some("x".to_string()));
    }

    #[test]
    fn mixed_families_or_partial_sets_are_not_fim() {
        let tokens = vocab(&["<|fim_prefix|>", "<SUF>", "<fim_middle>"]);
        assert_eq!(detect(&BTreeMap::new(), Some(&tokens)), None);
        assert_eq!(detect(&BTreeMap::new(), None), None);
    }
}
