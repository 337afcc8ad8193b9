//! Tool calls in generated text: models write them in their family's syntax, and clients
//! expect OpenAI's structured `tool_calls`. When a chat request carries tools, the answer
//! passes through [`ToolCalls`]: ordinary text streams out as content as soon as it cannot be
//! the start of a call; from a call's opening marker on, text is held and parsed at the end.
//!
//! Nothing is lost: a block that does not parse as a call stays in the content as written.

pub mod choice;
pub mod generic;

use serde_json::Value as Json;

/// How a model family writes tool calls. Chosen from the chat template's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one block per call:
    /// Qwen2.5 and Qwen2.5-Coder, Hermes 2/3 and the many fine-tunes on their format.
    Hermes,
    /// `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]` (Mistral, Mistral Nemo), or
    /// `[TOOL_CALLS]name[ARGS]{…}` (newer Mistral tokenizers). `[TOOL_CALLS]` is a control
    /// token, so these requests render special tokens.
    Mistral,
    /// The whole answer is one JSON object `{"name": …, "parameters": {…}}`, possibly after
    /// `<|python_tag|>`: Llama 3.1–3.3, and the fallback for templates we do not recognise.
    Json,
    /// The whole answer is `{"tool_calls": [{"name": …, "arguments": {…}}, …]}` or
    /// `{"response": …}`: the generic format ([`generic`]) for templates that take no tools.
    /// Never detected from a template.
    Generic,
}

const HERMES_OPEN: &str = "<tool_call>";
const HERMES_CLOSE: &str = "</tool_call>";
const MISTRAL_OPEN: &str = "[TOOL_CALLS]";
const MISTRAL_ARGS: &str = "[ARGS]";
const PYTHON_TAG: &str = "<|python_tag|>";

impl Syntax {
    /// The syntax a chat template teaches its model, or `None` when the template does not
    /// take tools at all.
    pub fn detect(template: &str) -> Option<Self> {
        if !template.contains("tools") {
            None
        } else if template.contains(HERMES_OPEN) {
            Some(Self::Hermes)
        } else if template.contains(MISTRAL_OPEN) {
            Some(Self::Mistral)
        } else {
            Some(Self::Json)
        }
    }

    /// Whether the call marker is a control token that plain detokenisation drops.
    pub fn needs_special_tokens(self) -> bool {
        self == Self::Mistral
    }

    fn opener(self) -> Option<&'static str> {
        match self {
            Self::Hermes => Some(HERMES_OPEN),
            Self::Mistral => Some(MISTRAL_OPEN),
            Self::Json | Self::Generic => None,
        }
    }
}

/// One parsed call, in OpenAI's shape: `arguments` is a JSON-encoded string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}

/// The streaming splitter between content and tool calls for one answer.
#[derive(Debug)]
pub struct ToolCalls {
    syntax: Syntax,
    /// The tools the request offered: a JSON answer only counts as a call to one of them.
    names: Vec<String>,
    /// Text not released yet because it may be the start of a call.
    held: String,
    /// Everything from the first call marker on.
    captured: Option<String>,
    /// `Json` syntax: the answer's first non-blank text has been seen and is not a call.
    plain: bool,
}

impl ToolCalls {
    pub fn new(syntax: Syntax, names: Vec<String>) -> Self {
        Self {
            syntax,
            names,
            held: String::new(),
            captured: None,
            plain: false,
        }
    }

    /// Takes generated text; returns the part that is content for certain.
    pub fn push(&mut self, text: &str) -> String {
        if let Some(captured) = self.captured.as_mut() {
            captured.push_str(text);
            return String::new();
        }
        self.held.push_str(text);
        match self.syntax.opener() {
            Some(opener) => self.split_at_opener(opener),
            None => self.decide_json(),
        }
    }

    fn split_at_opener(&mut self, opener: &str) -> String {
        if let Some(at) = self.held.find(opener) {
            self.captured = Some(self.held.split_off(at));
            return std::mem::take(&mut self.held);
        }
        // Keep back the longest tail that could still grow into the opener.
        let keep = (1..opener.len().min(self.held.len() + 1))
            .rev()
            .find(|&n| {
                self.held.is_char_boundary(self.held.len() - n)
                    && opener.starts_with(&self.held[self.held.len() - n..])
            })
            .unwrap_or(0);
        let tail = self.held.split_off(self.held.len() - keep);
        std::mem::replace(&mut self.held, tail)
    }

    fn decide_json(&mut self) -> String {
        if self.plain {
            return std::mem::take(&mut self.held);
        }
        let start = self.held.trim_start();
        if start.is_empty() || PYTHON_TAG.starts_with(start) {
            return String::new();
        }
        if start.starts_with('{') || start.starts_with(PYTHON_TAG) {
            self.captured = Some(std::mem::take(&mut self.held));
            return String::new();
        }
        self.plain = true;
        std::mem::take(&mut self.held)
    }

    /// The answer ended: the content not released yet, and the calls found.
    pub fn finish(self) -> (String, Vec<ToolCall>) {
        let Some(captured) = self.captured else {
            return (self.held, Vec::new());
        };
        let mut content = self.held;
        let calls = match self.syntax {
            Syntax::Hermes => hermes(&captured, &mut content),
            Syntax::Mistral => mistral(&captured, &mut content),
            Syntax::Json => json_answer(&captured, &self.names, &mut content),
            Syntax::Generic => generic_answer(&captured, &self.names, &mut content),
        };
        (content, calls)
    }
}

/// `<tool_call>…</tool_call>` blocks; the last may lack its closing tag (generation stopped
/// at the end-of-turn token). Text around the blocks, and blocks that do not parse, stay
/// content.
fn hermes(text: &str, content: &mut String) -> Vec<ToolCall> {
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(HERMES_OPEN) {
        content.push_str(&rest[..open]);
        let body_start = open + HERMES_OPEN.len();
        let (body, next) = match rest[body_start..].find(HERMES_CLOSE) {
            Some(close) => (
                &rest[body_start..body_start + close],
                body_start + close + HERMES_CLOSE.len(),
            ),
            None => (&rest[body_start..], rest.len()),
        };
        match serde_json::from_str::<Json>(body.trim())
            .ok()
            .and_then(call)
        {
            Some(c) => calls.push(c),
            None => content.push_str(&rest[open..next]),
        }
        rest = &rest[next..];
    }
    content.push_str(rest);
    calls
}

/// `[TOOL_CALLS]` followed by a JSON array of calls, or by `name[ARGS]{…}` pairs.
fn mistral(text: &str, content: &mut String) -> Vec<ToolCall> {
    let body = text.strip_prefix(MISTRAL_OPEN).unwrap_or(text).trim_start();
    if body.starts_with('[') {
        let mut values = serde_json::Deserializer::from_str(body).into_iter::<Json>();
        if let Some(Ok(Json::Array(items))) = values.next() {
            let calls: Option<Vec<ToolCall>> = items.into_iter().map(call).collect();
            if let Some(calls) = calls.filter(|c| !c.is_empty()) {
                content.push_str(body[values.byte_offset()..].trim_start());
                return calls;
            }
        }
        content.push_str(text);
        return Vec::new();
    }
    let mut calls = Vec::new();
    for part in text.split(MISTRAL_OPEN).filter(|p| !p.trim().is_empty()) {
        let parsed = part.split_once(MISTRAL_ARGS).and_then(|(name, args)| {
            let args: Json = serde_json::from_str(args.trim()).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| ToolCall {
                name: name.to_owned(),
                arguments: args.to_string(),
            })
        });
        match parsed {
            Some(c) => calls.push(c),
            None => {
                content.push_str(MISTRAL_OPEN);
                content.push_str(part);
            }
        }
    }
    calls
}

/// A whole answer that is a JSON call (or several separated by `;`, as Llama 3.2 writes
/// them) to one of the offered tools; anything else is content, untouched.
fn json_answer(text: &str, names: &[String], content: &mut String) -> Vec<ToolCall> {
    let body = text.trim_start();
    let body = body.strip_prefix(PYTHON_TAG).unwrap_or(body).trim();
    let parts: Vec<&str> = if serde_json::from_str::<Json>(body).is_ok() {
        vec![body]
    } else {
        body.split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    };
    let calls: Option<Vec<ToolCall>> = parts
        .iter()
        .map(|part| {
            serde_json::from_str(part)
                .ok()
                .and_then(call)
                .filter(|c| names.contains(&c.name))
        })
        .collect();
    match calls {
        Some(calls) if !calls.is_empty() => calls,
        _ => {
            content.push_str(text);
            Vec::new()
        }
    }
}

/// A whole answer `{"tool_calls": [call, …]}` whose calls all name offered tools, or a reply
/// `{"response": …}` whose text (a string's value, other JSON as written) is the content;
/// anything else (an answer cut short by `max_tokens`) is content, untouched.
fn generic_answer(text: &str, names: &[String], content: &mut String) -> Vec<ToolCall> {
    let mut answer = match serde_json::from_str::<Json>(text.trim()) {
        Ok(Json::Object(answer)) => answer,
        _ => {
            content.push_str(text);
            return Vec::new();
        }
    };
    let calls = match answer.remove("tool_calls") {
        Some(Json::Array(items)) => items
            .into_iter()
            .map(|item| call(item).filter(|c| names.contains(&c.name)))
            .collect::<Option<Vec<ToolCall>>>(),
        _ => None,
    };
    match (calls, answer.remove("response")) {
        (Some(calls), _) if !calls.is_empty() => calls,
        (_, Some(Json::String(reply))) if answer.is_empty() => {
            content.push_str(&reply);
            Vec::new()
        }
        (_, Some(reply)) if answer.is_empty() => {
            content.push_str(&reply.to_string());
            Vec::new()
        }
        _ => {
            content.push_str(text);
            Vec::new()
        }
    }
}

/// `{"name": …, "arguments"|"parameters": {…} or "…"}` as a call.
fn call(value: Json) -> Option<ToolCall> {
    let mut object = match value {
        Json::Object(o) => o,
        _ => return None,
    };
    // Some fine-tunes wrap the call as OpenAI does: {"function": {"name": …}}.
    if let Some(Json::Object(inner)) = object.remove("function") {
        object = inner;
    }
    let name = object.get("name")?.as_str()?.trim().to_owned();
    if name.is_empty() {
        return None;
    }
    let arguments = match object
        .remove("arguments")
        .or_else(|| object.remove("parameters"))
    {
        Some(Json::String(s)) => s,
        Some(Json::Null) | None => "{}".to_owned(),
        Some(v @ Json::Object(_)) => v.to_string(),
        Some(_) => return None,
    };
    Some(ToolCall { name, arguments })
}

#[cfg(test)]
mod tests;
