//! Picks a prompt family from a model's name and GGUF architecture.
//!
//! Follows the order Continue uses (first match wins, most specific names first) with three
//! deliberate changes: bare `qwen` no longer means the StarCoder layout (only CodeQwen 1.5
//! used it; Qwen2.5/Qwen3 chat models would get tokens they do not know), Granite versions
//! are parsed instead of matched on any `4`/`3` in the name (`granite-34b-code` is Granite
//! Code, a StarCoder-token model), and an unknown model gets the chat hole-filler prompt rather
//! than StarCoder tokens, because a chat prompt degrades gracefully on a model we know nothing
//! about while foreign FIM tokens produce garbage. Config can always name the family.

use super::family::PromptFamily;

/// Detects the family from `model_name` (any of `qwen2.5-coder:1.5b-base`,
/// `Qwen/Qwen2.5-Coder-7B`, a GGUF file path, ...) and, when the name says nothing, the GGUF
/// `general.architecture` value.
pub fn detect(model_name: &str, gguf_architecture: Option<&str>) -> PromptFamily {
    let lowered = model_name.trim().to_lowercase();
    // The organisation or directory part says little (`mistralai/Codestral-22B`,
    // `deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`) and can mislead, so only the last segment counts.
    let name = lowered
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(lowered.as_str());
    from_name(name)
        .or_else(|| gguf_architecture.and_then(from_architecture))
        .unwrap_or(PromptFamily::GenericChat)
}

fn from_name(name: &str) -> Option<PromptFamily> {
    let has = |needle: &str| name.contains(needle);
    let any = |needles: &[&str]| needles.iter().any(|n| name.contains(n));

    if has("qwen") && has("coder") {
        return Some(PromptFamily::QwenCoder);
    }
    if has("granite") {
        return Some(match granite_version(name) {
            Some(v) if v >= 4 => PromptFamily::Granite,
            Some(_) => PromptFamily::GenericChat,
            None if has("code") => PromptFamily::StarCoder,
            None => PromptFamily::GenericChat,
        });
    }
    if any(&["starcoder2", "starcoder-2", "star-coder2", "star-coder-2"]) {
        return Some(PromptFamily::StarCoder2);
    }
    if any(&[
        "starcoder",
        "star-coder",
        "starchat",
        "octocoder",
        "stable-code",
        "stablecode",
        "codeqwen",
    ]) {
        return Some(PromptFamily::StarCoder);
    }
    if has("codestral") {
        return Some(PromptFamily::Codestral);
    }
    if has("codegemma") {
        return Some(PromptFamily::CodeGemma);
    }
    if any(&["codellama", "code-llama", "code_llama"]) {
        return Some(PromptFamily::CodeLlama);
    }
    if has("deepseek") {
        // R1 and its distills are reasoning chat models without a FIM mode.
        return Some(if has("r1") {
            PromptFamily::GenericChat
        } else {
            PromptFamily::DeepSeekCoder
        });
    }
    if any(&["mistral", "mixtral"]) {
        return Some(PromptFamily::MistralInstruct);
    }
    if any(&["llama3", "llama-3", "llama_3"]) {
        return Some(PromptFamily::Llama3);
    }
    if any(&["gpt", "davinci", "claude"]) {
        return Some(PromptFamily::GenericChat);
    }
    None
}

/// Only architectures that are code-specific say anything about FIM tokens: `llama`, `qwen2`
/// or `gemma` cover chat and code models alike.
fn from_architecture(arch: &str) -> Option<PromptFamily> {
    match arch.trim().to_ascii_lowercase().as_str() {
        "starcoder" => Some(PromptFamily::StarCoder),
        "starcoder2" => Some(PromptFamily::StarCoder2),
        "deepseek2" => Some(PromptFamily::DeepSeekCoder),
        "granitehybrid" => Some(PromptFamily::Granite),
        _ => None,
    }
}

/// The major version in `granite4:micro`, `granite-4.0-h-tiny`, `granite3.1-dense`;
/// `None` for sizes (`granite-3b-code`, `granite-34b-code`) and unversioned names.
fn granite_version(name: &str) -> Option<u32> {
    let start = name.find("granite")? + "granite".len();
    let rest = name[start..].trim_start_matches(['-', '_', ' ', '.']);
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 || rest[digits_len..].starts_with('b') {
        return None;
    }
    rest[..digits_len].parse().ok()
}
