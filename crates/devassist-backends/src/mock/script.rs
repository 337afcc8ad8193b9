//! What the mock will answer, decided up front from the config and the request so that the
//! stream only has to play it back: tokens, tool call, finish reason and usage.

use super::config::{MockConfig, MockMode};
use devassist_core::{FinishReason, GenerateRequest, Message, Prompt, Role, ToolCall};
use serde_json::json;

/// Upper bound on one answer, whatever the config says, to keep memory bounded.
const MAX_TOKENS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Script {
    pub tokens: Vec<String>,
    pub tool_call: Option<ToolCall>,
    pub finish: FinishReason,
    pub prompt_tokens: u32,
}

pub(crate) fn plan(config: &MockConfig, req: &GenerateRequest) -> Script {
    let prompt_tokens = prompt_word_count(&req.prompt);
    if let Some(tool_call) = named_call(&req.prompt).or_else(|| weather_call(&req.prompt)) {
        return Script {
            tokens: Vec::new(),
            tool_call: Some(tool_call),
            finish: FinishReason::ToolCalls,
            prompt_tokens,
        };
    }
    let cap = (config.tokens as usize).min(MAX_TOKENS);
    let mut tokens = match config.mode {
        MockMode::Echo => {
            let mut tokens = split_tokens(&echo_source(&req.prompt));
            tokens.truncate(cap);
            tokens
        }
        MockMode::Fixed => cycle(&config.text, cap),
    };
    let mut finish = FinishReason::Stop;
    let max_tokens = req.sampling.max_tokens.map(|m| m as usize);
    if let Some(max) = max_tokens.filter(|max| *max < tokens.len()) {
        tokens.truncate(max);
        finish = FinishReason::Length;
    }
    if cut_at_stop(&mut tokens, &req.sampling.stop) {
        finish = FinishReason::Stop;
    }
    Script {
        tokens,
        tool_call: None,
        finish,
        prompt_tokens,
    }
}

/// Splits text into words with their leading whitespace; trailing whitespace is a token of
/// its own, so the tokens always join back to the text.
pub(crate) fn split_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        }
        if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn cycle(text: &str, count: usize) -> Vec<String> {
    let words: Vec<String> = split_tokens(text)
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            let word = &words[i % words.len()];
            // Each new round needs a separator before its first word.
            if i >= words.len() && i % words.len() == 0 && !word.starts_with(char::is_whitespace) {
                format!(" {word}")
            } else {
                word.clone()
            }
        })
        .collect()
}

/// Cuts the answer at the earliest stop string; true when one was found.
fn cut_at_stop(tokens: &mut Vec<String>, stops: &[String]) -> bool {
    let text: String = tokens.concat();
    let Some(cut) = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
    else {
        return false;
    };
    let mut kept = Vec::new();
    let mut len = 0;
    for token in tokens.drain(..) {
        if len + token.len() <= cut {
            len += token.len();
            kept.push(token);
            continue;
        }
        // `cut` is a char boundary of the joined text and `len` one of this token's start.
        if let Some(head) = token.get(..cut - len).filter(|h| !h.is_empty()) {
            kept.push(head.to_owned());
        }
        break;
    }
    *tokens = kept;
    true
}

/// The last user or tool message of a chat (so a tool result is echoed back after a tool
/// call), or the prompt of a completion (its prefix, for FIM).
fn echo_source(prompt: &Prompt) -> String {
    match prompt {
        Prompt::Chat { messages, .. } => messages
            .iter()
            .rev()
            .find(|m| matches!(m.role, Role::User | Role::Tool))
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        Prompt::Completion { prompt, .. } => prompt.clone(),
    }
}

/// A chat whose last message is a user's `call <tool> <text>`, naming one of the offered
/// tools, gets a call of that tool with `{"input": "<text>"}` (the shape a free-form tool
/// takes).
fn named_call(prompt: &Prompt) -> Option<ToolCall> {
    let Prompt::Chat { messages, tools } = prompt else {
        return None;
    };
    let last: &Message = messages.last().filter(|m| m.role == Role::User)?;
    let rest = last.content.strip_prefix("call ")?;
    let (name, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let offered = tools.iter().any(|t| {
        t.get("function")
            .and_then(|f| f.get("name"))
            .and_then(serde_json::Value::as_str)
            == Some(name)
    });
    offered.then(|| ToolCall {
        id: format!(
            "call_{:08x}",
            super::embed::fnv1a(last.content.as_bytes()) as u32
        ),
        name: name.to_owned(),
        arguments: json!({ "input": text }),
    })
}

/// A chat with tools whose last message is a user asking about the weather gets a
/// `get_weather` call for the last word of the question.
fn weather_call(prompt: &Prompt) -> Option<ToolCall> {
    let Prompt::Chat { messages, tools } = prompt else {
        return None;
    };
    let last: &Message = messages.last()?;
    if tools.is_empty() || last.role != Role::User {
        return None;
    }
    let words: Vec<&str> = last
        .content
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if !words.iter().any(|w| w.eq_ignore_ascii_case("weather")) {
        return None;
    }
    let city = words.last()?;
    Some(ToolCall {
        id: format!(
            "call_{:08x}",
            super::embed::fnv1a(last.content.as_bytes()) as u32
        ),
        name: "get_weather".to_owned(),
        arguments: json!({"city": city}),
    })
}

fn prompt_word_count(prompt: &Prompt) -> u32 {
    let words = |s: &str| s.split_whitespace().count();
    let count = match prompt {
        Prompt::Chat { messages, .. } => messages.iter().map(|m| words(&m.content)).sum(),
        Prompt::Completion {
            prompt,
            suffix,
            system,
            ..
        } => {
            words(prompt) + suffix.as_deref().map_or(0, words) + system.as_deref().map_or(0, words)
        }
    };
    u32::try_from(count).unwrap_or(u32::MAX)
}
