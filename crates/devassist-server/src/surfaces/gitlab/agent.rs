//! `POST /v2/chat/agent`: GitLab Duo Chat's agent endpoint, always an NDJSON event stream.
//!
//! GitLab's gateway runs a ReAct loop here: the model may answer or ask GitLab to run one of
//! its tools (`issue_reader`, `gitlab_documentation`, ...), which GitLab does before calling
//! again. devassist offers the model no tools: it answers from the conversation and the
//! context GitLab attached to it (the issue, merge request or file the user is looking at),
//! and every answer arrives as `final_answer_delta` events. So the wire is GitLab's; questions
//! that need another GitLab resource are answered with "I cannot see it".

use super::dialect::{INFERENCE_FAILED, Rejection};
use super::select::select;
use super::validate::{Checker, Loc};
use super::wire::ModelFields;
use super::{answer, decode, pyjson, read_json};
use crate::auth::jwt::gitlab::Grant;
use crate::guard::RequestId;
use crate::state::AppState;
use crate::surfaces::stream::streaming;
use axum::Extension;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use devassist_core::{ErrorKind, Feature, GatewayError, Message, Origin, Role};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

const NDJSON: &str = "application/x-ndjson; charset=utf-8";

/// One chat message with what GitLab attached to it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMessage {
    pub role: Role,
    pub content: String,
    /// The resource the user is looking at: (`issue`, its text).
    pub context: Option<(String, String)>,
    /// (path, text, whether it is a selection).
    pub current_file: Option<(String, String, bool)>,
    /// (category, id, text).
    pub additional: Vec<(String, String, String)>,
    pub resource_content: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentBody {
    pub messages: Vec<AgentMessage>,
    pub model: ModelFields,
    pub unavailable_resources: Vec<String>,
}

const CONTEXT_TYPES: [&str; 5] = ["issue", "epic", "merge_request", "commit", "build"];
const CATEGORIES: [&str; 6] = [
    "file",
    "snippet",
    "merge_request",
    "issue",
    "dependency",
    "local_git",
];

fn message(c: &mut Checker, v: &Value, at: &Loc) -> Option<AgentMessage> {
    let o = c.object(v, at)?;
    let role = c
        .required(o, "role", at)
        .and_then(|r| c.choice(r, &at.key("role"), &["user", "assistant", "system"]))
        .and_then(Role::parse);
    let content = c.req_string(o, "content", at, None, false);
    let context = Checker::optional(o, "context").and_then(|v| {
        let cl = at.key("context");
        let ctx = c.object(v, &cl)?;
        let kind = c
            .required(ctx, "type", &cl)
            .and_then(|t| c.choice(t, &cl.key("type"), &CONTEXT_TYPES));
        let text = c.req_string(ctx, "content", &cl, None, false);
        Some((kind?.to_owned(), text?))
    });
    let current_file = Checker::optional(o, "current_file").and_then(|v| {
        let fl = at.key("current_file");
        let f = c.object(v, &fl)?;
        let path = c.req_string(f, "file_path", &fl, None, false);
        let data = c.req_string(f, "data", &fl, None, false);
        let selected = c.opt_bool(f, "selected_code", &fl, false);
        Some((path?, data?, selected))
    });
    let mut additional = Vec::new();
    if let Some(list) = Checker::optional(o, "additional_context") {
        let al = at.key("additional_context");
        for (i, item) in c
            .list(list, &al, 0, None)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let il = al.index(i);
            let Some(a) = c.object(item, &il) else {
                continue;
            };
            let category = c
                .required(a, "category", &il)
                .and_then(|t| c.choice(t, &il.key("category"), &CATEGORIES));
            let id = c.opt_string(a, "id", &il, None, false).unwrap_or_default();
            let text = c
                .opt_string(a, "content", &il, None, false)
                .unwrap_or_default();
            if let Some(category) = category {
                additional.push((category.to_owned(), id, text));
            }
        }
    }
    let resource_content = c.opt_string(o, "resource_content", at, None, false);
    Some(AgentMessage {
        role: role?,
        content: content?,
        context,
        current_file,
        additional,
        resource_content,
    })
}

pub fn decode_body(c: &mut Checker, body: &Value) -> Option<AgentBody> {
    let loc = Loc::body();
    let obj = c.object(body, &loc)?;
    let ml = loc.key("messages");
    let list = c
        .required(obj, "messages", &loc)
        .and_then(|v| c.list(v, &ml, 0, None));
    let messages: Vec<Option<AgentMessage>> = list
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| message(c, m, &ml.index(i)))
        .collect();
    let mut model = ModelFields::default();
    if let Some(meta) = Checker::optional(obj, "model_metadata") {
        let mm = loc.key("model_metadata");
        if let Some(m) = c.object(meta, &mm) {
            model.name = c.req_string(m, "name", &mm, Some(255), false);
            model.provider = c.req_string(m, "provider", &mm, Some(255), false);
            model.endpoint = c.req_string(m, "endpoint", &mm, Some(255), false);
            model.api_key = c.opt_string(m, "api_key", &mm, Some(255), false);
            model.identifier = c.opt_string(m, "identifier", &mm, Some(255), false);
        }
    }
    let mut unavailable_resources = Vec::new();
    if let Some(v) = Checker::optional(obj, "unavailable_resources") {
        let ul = loc.key("unavailable_resources");
        for (i, item) in c
            .list(v, &ul, 0, None)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if let Some(s) = c.string(item, &ul.index(i), None, false) {
                unavailable_resources.push(s);
            }
        }
    }
    if !c.ok() || list.is_none() {
        return None;
    }
    Some(AgentBody {
        messages: messages.into_iter().flatten().collect(),
        model,
        unavailable_resources,
    })
}

const RULES: &str = "\
You are GitLab Duo Chat, an assistant for software development in GitLab. Answer the user's \
questions about code, GitLab and DevSecOps clearly and concisely, using Markdown where it helps.
You cannot open GitLab resources yourself: use only the conversation and the context attached \
to it. When a question needs an issue, epic, merge request, pipeline or file you were not \
shown, say that you cannot see it and how the user can share it with you. Do not make up \
their contents.";

/// A user message with its attachments written out, in our words.
fn user_text(m: &AgentMessage) -> String {
    let mut out = m.content.clone();
    if let Some((kind, text)) = &m.context {
        let label = kind.replace('_', " ");
        out.push_str(&format!(
            "\n\nThe {label} I am looking at:\n<{kind}>\n{text}\n</{kind}>"
        ));
    }
    if let Some((path, data, selected)) = &m.current_file {
        let what = if *selected {
            "Code I selected in"
        } else {
            "The file"
        };
        out.push_str(&format!("\n\n{what} `{path}`:\n<file>\n{data}\n</file>"));
    }
    for (category, id, text) in &m.additional {
        let category = category.replace('_', " ");
        out.push_str(&format!(
            "\n\nAdditional context ({category} {id}):\n<context>\n{text}\n</context>"
        ));
    }
    if let Some(text) = m.resource_content.as_deref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("\n\n<resource>\n{text}\n</resource>"));
    }
    out
}

/// The conversation for the chat model: our rules first (folded into the first user message
/// for families whose templates take no system message), then GitLab's messages.
pub fn messages(body: &AgentBody, system_role: bool) -> Vec<Message> {
    let mut rules = RULES.to_owned();
    if !body.unavailable_resources.is_empty() {
        rules.push_str("\nNot available in this GitLab instance: ");
        rules.push_str(&body.unavailable_resources.join(", "));
        rules.push('.');
    }
    let mut out = Vec::with_capacity(body.messages.len() + 1);
    if system_role {
        out.push(Message::new(Role::System, rules.clone()));
    }
    let mut folded = !system_role;
    for m in &body.messages {
        let mut text = match m.role {
            Role::User => user_text(m),
            _ => m.content.clone(),
        };
        if folded && m.role == Role::User {
            text = format!("{rules}\n\n{text}");
            folded = false;
        }
        let role = if m.role == Role::System && !system_role {
            Role::User
        } else {
            m.role
        };
        out.push(Message::new(role, text));
    }
    out
}

#[derive(Serialize)]
struct AgentEvent<T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: T,
}

fn event<T: Serialize>(kind: &'static str, data: T) -> Bytes {
    let mut line = pyjson::dumps(&AgentEvent { kind, data });
    line.push('\n');
    Bytes::from(line)
}

fn error_event(err: &GatewayError) -> Bytes {
    #[derive(Serialize)]
    struct ErrorData<'a> {
        message: &'a str,
        retryable: bool,
    }
    let message = if err.origin == Origin::Client {
        err.message.as_str()
    } else {
        INFERENCE_FAILED
    };
    event(
        "error",
        ErrorData {
            message,
            // GitLab marks only overload as retryable.
            retryable: matches!(err.kind, ErrorKind::Overloaded | ErrorKind::RateLimited),
        },
    )
}

/// Each attached context needs its `include_<category>_context` unit primitive, as in
/// GitLab's gateway.
fn authorize_contexts(grant: &Grant, body: &AgentBody) -> Result<(), GatewayError> {
    for m in &body.messages {
        for (category, _, _) in &m.additional {
            let up = format!("include_{category}_context");
            if !grant.can(&up, true) {
                return Err(GatewayError::forbidden(format!(
                    "Unauthorized to access {up}"
                )));
            }
        }
    }
    Ok(())
}

pub async fn invoke(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Response {
    run(st, rid, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run(st: AppState, rid: RequestId, req: Request) -> Result<Response, Rejection> {
    let grant = req.extensions().get::<Arc<Grant>>().cloned();
    let json = read_json(&st, req).await?;
    let body = decode(|c| decode_body(c, &json))?;
    if let Some(grant) = grant {
        authorize_contexts(&grant, &body)?;
    }
    let target = select(&st, Feature::Chat, &body.model)?;
    let messages = messages(&body, target.profile.family.supports_system_role());
    let request = super::plan::chat(&target, &st, messages, true);
    let ctx = rid.call_context();
    // GitLab answers 200 before the model is called: a model failure is an `error` event.
    let frames = match target.start(&st, request, &ctx).await {
        Ok(started) => answer::text_stream(started, rid.as_str().to_owned())
            .map(|text| {
                #[derive(Serialize)]
                struct Delta {
                    text: String,
                }
                event("final_answer_delta", Delta { text })
            })
            .boxed(),
        Err(e) => {
            tracing::warn!(error = %e, "Chat agent model failed before its first token");
            futures::stream::once(async move { error_event(&e) }).boxed()
        }
    };
    Ok(streaming(NDJSON, frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(v: Value) -> Result<AgentBody, Vec<super::super::validate::Issue>> {
        let mut c = Checker::default();
        match decode_body(&mut c, &v) {
            Some(b) if c.ok() => Ok(b),
            _ => Err(c.issues),
        }
    }

    #[test]
    fn rails_request_decodes_and_attachments_reach_the_prompt() {
        let body = decoded(json!({
            "messages": [
                {"role": "user", "content": "What is this issue about?",
                 "context": {"type": "issue", "content": "Login fails on Safari"},
                 "current_file": {"file_path": "app/login.rb", "data": "def login; end", "selected_code": true},
                 "additional_context": [{"category": "snippet", "id": "s1", "content": "x = 1"}]},
            ],
            "model_metadata": {"provider": "openai", "name": "mistral", "endpoint": "http://llm:8000/v1",
                               "api_key": "k", "identifier": "custom_openai/Mistral-7B"},
            "unavailable_resources": ["Merge Requests, Pipelines, Vulnerabilities"],
        }));
        let Ok(body) = body else {
            unreachable!("the Rails body is valid: {body:?}")
        };
        assert_eq!(body.model.name.as_deref(), Some("mistral"));
        assert_eq!(body.model.endpoint.as_deref(), Some("http://llm:8000/v1"));
        let with_system = messages(&body, true);
        assert_eq!(with_system.len(), 2);
        assert!(with_system[0].content.ends_with(
            "Not available in this GitLab instance: Merge Requests, Pipelines, Vulnerabilities."
        ));
        assert_eq!(
            with_system[1].content,
            "What is this issue about?\n\nThe issue I am looking at:\n<issue>\nLogin fails on Safari\n</issue>\
             \n\nCode I selected in `app/login.rb`:\n<file>\ndef login; end\n</file>\
             \n\nAdditional context (snippet s1):\n<context>\nx = 1\n</context>"
        );
        let folded = messages(&body, false);
        assert_eq!(folded.len(), 1);
        assert!(folded[0].content.starts_with("You are GitLab Duo Chat"));
        assert!(folded[0].content.ends_with("x = 1\n</context>"));
    }

    #[test]
    fn bad_bodies_are_422_issues() {
        let Err(issues) =
            decoded(json!({"messages": [{"role": "robot"}], "model_metadata": {"name": "m"}}))
        else {
            unreachable!("the body is invalid")
        };
        let locs: Vec<String> = issues
            .iter()
            .map(|i| serde_json::to_string(&i.loc).unwrap_or_default())
            .collect();
        assert_eq!(
            locs,
            [
                r#"["body","messages",0,"role"]"#,
                r#"["body","messages",0,"content"]"#,
                r#"["body","model_metadata","provider"]"#,
                r#"["body","model_metadata","endpoint"]"#,
            ]
        );
    }

    #[test]
    fn events_are_json_dumps_lines() {
        assert_eq!(
            event("final_answer_delta", json!({"text": "Hé"})),
            Bytes::from("{\"type\": \"final_answer_delta\", \"data\": {\"text\": \"H\\u00e9\"}}\n")
        );
        let e = error_event(&GatewayError::backend_unavailable("refused by 10.0.0.3"));
        assert_eq!(
            e,
            Bytes::from(
                "{\"type\": \"error\", \"data\": {\"message\": \"Inference failed\", \"retryable\": false}}\n"
            )
        );
        let e = error_event(&GatewayError::overloaded("queue full"));
        assert!(e.ends_with(b"\"retryable\": true}}\n"));
    }
}
