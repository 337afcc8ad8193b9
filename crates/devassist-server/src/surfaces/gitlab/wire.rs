//! GitLab AI Gateway request bodies, decoded and validated from JSON with the field rules
//! of the gateway's pydantic models (`ai_gateway/api/v2/code/typing.py`, v3, v1 chat).
//!
//! Decoding never fails on the first problem: the [`Checker`] collects every issue so the
//! 422 lists them all, as FastAPI does.

use super::validate::{Checker, Loc};
use devassist_core::{Message, Role};
use serde_json::{Map, Value};

/// `current_file` of a code suggestion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurrentFile {
    pub file_name: String,
    pub language_identifier: Option<String>,
    pub content_above_cursor: String,
    pub content_below_cursor: String,
}

/// An item of `context[]`: another open file or a snippet.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextItem {
    pub kind: String,
    pub name: String,
    pub content: String,
}

/// What the client says about the model: GitLab's self-hosted model fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFields {
    pub provider: Option<String>,
    pub name: Option<String>,
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
    pub identifier: Option<String>,
}

/// `prompt` by `prompt_version`.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptField {
    /// Version 1: the gateway builds the prompt.
    Built,
    /// Version 2: a prompt string; `None` or empty means "the gateway's own template".
    Text(Option<String>),
    /// Version 3: the messages to send as they are.
    Messages(Option<Vec<Message>>),
}

/// Which endpoint a body is for; the `prompt` rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseCase {
    Completions,
    Generations,
}

/// A `/v2/code/completions`, `/v2/completions` or `/v2/code/generations` body.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionBody {
    pub current_file: CurrentFile,
    pub project_path: Option<String>,
    pub model: ModelFields,
    pub stream: bool,
    pub context: Vec<ContextItem>,
    pub prompt: PromptField,
    pub prompt_id: Option<String>,
}

fn current_file(c: &mut Checker, v: &Value, loc: &Loc) -> Option<CurrentFile> {
    let obj = c.object(v, loc)?;
    let file_name = c.req_string(obj, "file_name", loc, Some(255), true);
    let language_identifier = c.opt_string(obj, "language_identifier", loc, Some(255), false);
    let above = c.req_string(obj, "content_above_cursor", loc, Some(100_000), false);
    let below = c.req_string(obj, "content_below_cursor", loc, Some(100_000), false);
    Some(CurrentFile {
        file_name: file_name?,
        language_identifier,
        content_above_cursor: above?,
        content_below_cursor: below?,
    })
}

fn model_fields(c: &mut Checker, obj: &Map<String, Value>, loc: &Loc) -> ModelFields {
    ModelFields {
        // GitLab versions add providers (`gitlab`, `amazon_q`); any name is accepted so a
        // newer GitLab keeps working, and none of them changes where the request goes.
        provider: c.opt_string(obj, "model_provider", loc, Some(255), false),
        name: c.opt_string(obj, "model_name", loc, Some(50), true),
        endpoint: c.opt_string(obj, "model_endpoint", loc, None, false),
        api_key: c.opt_string(obj, "model_api_key", loc, None, false),
        identifier: c.opt_string(obj, "model_identifier", loc, Some(255), false),
    }
}

fn context_items(c: &mut Checker, obj: &Map<String, Value>, loc: &Loc) -> Vec<ContextItem> {
    let Some(v) = Checker::optional(obj, "context") else {
        return Vec::new();
    };
    let loc = loc.key("context");
    let Some(items) = c.list(v, &loc, 0, Some(100)) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = loc.index(i);
        let Some(o) = c.object(item, &at) else {
            continue;
        };
        let kind = c.req_string(o, "type", &at, Some(1024), false);
        let name = c.req_string(o, "name", &at, Some(1024), false);
        let content = c.req_string(o, "content", &at, Some(500_000), false);
        if let (Some(kind), Some(name), Some(content)) = (kind, name, content) {
            out.push(ContextItem {
                kind,
                name,
                content,
            });
        }
    }
    out
}

/// Messages of `prompt_version: 3` and of chat payloads: `{role, content}`.
pub fn messages(
    c: &mut Checker,
    v: &Value,
    loc: &Loc,
    min: usize,
    max: Option<usize>,
) -> Option<Vec<Message>> {
    let items = c.list(v, loc, min, max)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = loc.index(i);
        let Some(o) = c.object(item, &at) else {
            ok = false;
            continue;
        };
        let role = c
            .required(o, "role", &at)
            .and_then(|r| c.choice(r, &at.key("role"), &["system", "user", "assistant"]));
        let content = c.req_string(o, "content", &at, None, false);
        match (role.and_then(Role::parse), content) {
            (Some(role), Some(content)) => out.push(Message::new(role, content)),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// The discriminator: `prompt_version` 1 (the default), 2 or 3.
fn prompt_version(c: &mut Checker, obj: &Map<String, Value>, loc: &Loc) -> Option<u8> {
    let Some(v) = obj.get("prompt_version") else {
        return Some(1);
    };
    let tag = match v {
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    match tag {
        Some(t @ 1..=3) => Some(t as u8),
        _ => {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            c.issues.push(super::validate::Issue {
                kind: "union_tag_invalid",
                loc: loc.clone(),
                msg: format!(
                    "Input tag '{shown}' found using 'prompt_version' does not match any of the expected tags: 1, 2, 3"
                ),
                input: Value::Object(obj.clone()),
                ctx: Some(serde_json::json!({
                    "discriminator": "'prompt_version'",
                    "tag": shown,
                    "expected_tags": "1, 2, 3",
                })),
            });
            None
        }
    }
}

fn prompt(
    c: &mut Checker,
    obj: &Map<String, Value>,
    loc: &Loc,
    version: u8,
    use_case: UseCase,
) -> Option<PromptField> {
    // Generations require `prompt` for versions 2 and 3; completions allow it to be null.
    let required = use_case == UseCase::Generations;
    let value = if required {
        c.required(obj, "prompt", loc).map(Some)?
    } else {
        Checker::optional(obj, "prompt")
    };
    let at = loc.key("prompt");
    match version {
        1 => Some(PromptField::Built),
        2 => match value {
            None | Some(Value::Null) if !required => Some(PromptField::Text(None)),
            Some(v) => c
                .string(v, &at, None, false)
                .map(|s| PromptField::Text(Some(s))),
            None => None,
        },
        _ => match value {
            None | Some(Value::Null) if !required => Some(PromptField::Messages(None)),
            Some(v) => messages(c, v, &at, 0, None).map(|m| PromptField::Messages(Some(m))),
            None => None,
        },
    }
}

/// Decodes a v2 completions or generations body.
pub fn suggestion(c: &mut Checker, body: &Value, use_case: UseCase) -> Option<SuggestionBody> {
    let loc = Loc::body();
    let obj = c.object(body, &loc)?;
    let version = prompt_version(c, obj, &loc)?;
    let file = c
        .required(obj, "current_file", &loc)
        .and_then(|v| current_file(c, v, &loc.key("current_file")));
    let project_path = c.opt_string(obj, "project_path", &loc, Some(255), true);
    if let Some(v) = Checker::optional(obj, "project_id") {
        c.int(v, &loc.key("project_id"));
    }
    let model = model_fields(c, obj, &loc);
    if let Some(v) = Checker::optional(obj, "telemetry") {
        c.list(v, &loc.key("telemetry"), 0, Some(10));
    }
    let stream = c.opt_bool(obj, "stream", &loc, false);
    if let Some(v) = Checker::optional(obj, "choices_count") {
        c.int(v, &loc.key("choices_count"));
    }
    let context = context_items(c, obj, &loc);
    let prompt_id = c.opt_string(obj, "prompt_id", &loc, None, false);
    let prompt = prompt(c, obj, &loc, version, use_case);
    if !c.ok() {
        return None;
    }
    Some(SuggestionBody {
        current_file: file?,
        project_path,
        model,
        stream,
        context,
        prompt: prompt?,
        prompt_id,
    })
}

/// The first component of a `/v3/code/completions` or `/v4/code/suggestions` body.
#[derive(Debug, Clone, PartialEq)]
pub struct EditorBody {
    pub generation: bool,
    pub current_file: CurrentFile,
    pub model: ModelFields,
    pub stream: bool,
    /// The instruction of a generation.
    pub prompt: Option<String>,
    /// `code_context` components.
    pub context: Vec<ContextItem>,
}

const COMPONENT_TYPES: [&str; 3] = [
    "code_editor_completion",
    "code_editor_generation",
    "code_context",
];

/// Decodes a v3/v4 body. Only the first editor component runs, as in GitLab; `code_context`
/// components become snippets.
pub fn editor(c: &mut Checker, body: &Value) -> Option<EditorBody> {
    let loc = Loc::body();
    let obj = c.object(body, &loc)?;
    let list_loc = loc.key("prompt_components");
    let components = c
        .required(obj, "prompt_components", &loc)
        .and_then(|v| c.list(v, &list_loc, 1, Some(100)))?;
    let mut first: Option<EditorBody> = None;
    let mut context = Vec::new();
    for (i, comp) in components.iter().enumerate() {
        let at = list_loc.index(i);
        let Some(o) = c.object(comp, &at) else {
            continue;
        };
        let Some(kind) = c
            .required(o, "type", &at)
            .and_then(|t| c.choice(t, &at.key("type"), &COMPONENT_TYPES))
        else {
            continue;
        };
        let at = at.key(kind);
        let Some(payload) = c
            .required(o, "payload", &at)
            .and_then(|p| c.object(p, &at.key("payload")))
        else {
            continue;
        };
        let pl = at.key("payload");
        if kind == "code_context" {
            let kind = c.req_string(payload, "type", &pl, None, false);
            let name = c.req_string(payload, "name", &pl, None, false);
            let content = c.req_string(payload, "content", &pl, Some(100_000), false);
            if let (Some(kind), Some(name), Some(content)) = (kind, name, content) {
                context.push(ContextItem {
                    kind,
                    name,
                    content,
                });
            }
            continue;
        }
        let generation = kind == "code_editor_generation";
        let file_name = c.req_string(payload, "file_name", &pl, Some(255), true);
        let above = c.req_string(payload, "content_above_cursor", &pl, Some(100_000), false);
        let below = c.req_string(payload, "content_below_cursor", &pl, Some(100_000), false);
        let language_identifier =
            c.opt_string(payload, "language_identifier", &pl, Some(255), false);
        let stream = c.opt_bool(payload, "stream", &pl, false);
        let max_prompt = if generation { Some(400_000) } else { None };
        let prompt = c.opt_string(payload, "prompt", &pl, max_prompt, false);
        let model = model_fields(c, payload, &pl);
        if let (None, Some(file_name), Some(above), Some(below)) = (&first, file_name, above, below)
        {
            first = Some(EditorBody {
                generation,
                current_file: CurrentFile {
                    file_name,
                    language_identifier,
                    content_above_cursor: above,
                    content_below_cursor: below,
                },
                model,
                stream,
                prompt,
                context: Vec::new(),
            });
        }
    }
    if !c.ok() {
        return None;
    }
    let Some(mut body) = first else {
        c.issue(
            "value_error",
            &list_loc,
            "Value error, the request has no code_editor_completion or code_editor_generation component",
            &Value::Array(components.to_vec()),
        );
        return None;
    };
    body.context = context;
    Some(body)
}

/// Chat content: a string or a list of messages.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatContent {
    Text(String),
    Messages(Vec<Message>),
}

/// A `/v1/chat/{invokable}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatBody {
    pub content: ChatContent,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
    pub identifier: Option<String>,
    pub stream: bool,
}

pub fn chat(c: &mut Checker, body: &Value) -> Option<ChatBody> {
    let loc = Loc::body();
    let obj = c.object(body, &loc)?;
    let list_loc = loc.key("prompt_components");
    let stream = c.opt_bool(obj, "stream", &loc, false);
    let components = c
        .required(obj, "prompt_components", &loc)
        .and_then(|v| c.list(v, &list_loc, 1, Some(1)))?;
    let at = list_loc.index(0);
    let comp = components.first().and_then(|v| c.object(v, &at))?;
    c.req_string(comp, "type", &at, Some(100), false);
    if let Some(meta) = c
        .required(comp, "metadata", &at)
        .and_then(|m| c.object(m, &at.key("metadata")))
    {
        let ml = at.key("metadata");
        c.req_string(meta, "source", &ml, Some(100), false);
        c.req_string(meta, "version", &ml, Some(100), false);
    }
    let pl = at.key("payload");
    let payload = c
        .required(comp, "payload", &at)
        .and_then(|p| c.object(p, &pl))?;
    let content = c.required(payload, "content", &pl).and_then(|v| {
        let cl = pl.key("content");
        match v {
            Value::Array(_) => messages(c, v, &cl, 1, Some(100)).map(ChatContent::Messages),
            other => c
                .string(other, &cl, Some(400_000), false)
                .map(ChatContent::Text),
        }
    });
    let provider = c.opt_string(payload, "provider", &pl, None, false);
    let model = c.opt_string(payload, "model", &pl, None, false);
    if let Some(params) = Checker::optional(payload, "params") {
        // Validated for the 422 but not used: GitLab ignores them on the self-hosted path.
        c.object(params, &pl.key("params"));
    }
    let endpoint = c.opt_string(payload, "model_endpoint", &pl, None, false);
    let api_key = c.opt_string(payload, "model_api_key", &pl, None, false);
    let identifier = c.opt_string(payload, "model_identifier", &pl, None, false);
    if !c.ok() {
        return None;
    }
    Some(ChatBody {
        content: content?,
        provider,
        model,
        endpoint,
        api_key,
        identifier,
        stream,
    })
}
