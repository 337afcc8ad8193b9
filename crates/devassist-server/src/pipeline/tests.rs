//! The routing table test: every surface × (known model, unknown model, alias, feature
//! switched off, missing capability) gives the answer docs/features.md promises, in that
//! surface's own error shape. Runs the whole app (`crate::app`) in memory on the mock.

use crate::config;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MODELS: &str = r#"
[[backends]]
name = "m"
kind = "mock"

[[models]]
name = "coder"
backend = "m"
aliases = ["cc:1b"]
capabilities = ["completion"]

[[models]]
name = "chatm"
backend = "m"
capabilities = ["completion", "tools"]

[[models]]
name = "emb"
backend = "m"
aliases = ["e:1"]
capabilities = ["embedding"]
"#;

const FEATURE_MODELS: &str = r#"
[features.code_completion]
model = "coder"
[features.code_generation]
model = "chatm"
[features.chat]
model = "chatm"
[features.embeddings]
model = "emb"
"#;

const FEATURES_OFF: &str = r#"
[features.code_completion]
enabled = false
[features.code_generation]
enabled = false
[features.chat]
enabled = false
[features.embeddings]
enabled = false
"#;

fn app(extra: &str) -> axum::Router {
    let text = format!("{MODELS}\n{extra}");
    let settings = config::from_str(&text, &[], &|_| None).expect("valid config");
    crate::app(crate::build(&settings, None).expect("gateway builds"))
}

#[derive(Clone, Copy, Debug)]
enum Dialect {
    Ollama,
    OpenAi,
    GitLab,
    Anthropic,
}

/// One endpoint of one surface, with a body naming `model`.
struct Surface {
    name: &'static str,
    path: &'static str,
    dialect: Dialect,
    body: fn(&str) -> Value,
    /// A model that serves it, and an alias of one (written in another case).
    known: &'static str,
    alias: &'static str,
    /// A model it may be asked for that lacks what it needs, and the words of the 400.
    incapable: (&'static str, &'static str),
}

fn gitlab_completion(model: &str) -> Value {
    json!({
        "current_file": {"file_name": "a.py", "content_above_cursor": "def f(", "content_below_cursor": "\n"},
        "prompt_version": 1,
        "model_name": "codestral",
        "model_identifier": format!("custom_openai/{model}"),
        "stream": false,
    })
}

fn surfaces() -> Vec<Surface> {
    vec![
        Surface {
            name: "ollama generate",
            path: "/api/generate",
            dialect: Dialect::Ollama,
            body: |m| json!({"model": m, "prompt": "def f(", "stream": false}),
            known: "coder",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support generate"),
        },
        Surface {
            name: "ollama chat",
            path: "/api/chat",
            dialect: Dialect::Ollama,
            body: |m| json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "stream": false}),
            known: "chatm",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support chat"),
        },
        Surface {
            name: "ollama embed",
            path: "/api/embed",
            dialect: Dialect::Ollama,
            body: |m| json!({"model": m, "input": "hi"}),
            known: "emb",
            alias: "E:1",
            incapable: ("coder", "\"coder\" does not support embeddings"),
        },
        Surface {
            name: "openai chat",
            path: "/v1/chat/completions",
            dialect: Dialect::OpenAi,
            body: |m| json!({"model": m, "messages": [{"role": "user", "content": "hi"}]}),
            known: "chatm",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support chat"),
        },
        Surface {
            name: "openai completions",
            path: "/v1/completions",
            dialect: Dialect::OpenAi,
            body: |m| json!({"model": m, "prompt": "def f("}),
            known: "coder",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support generate"),
        },
        Surface {
            name: "openai responses",
            path: "/v1/responses",
            dialect: Dialect::OpenAi,
            body: |m| json!({"model": m, "input": "hi"}),
            known: "chatm",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support chat"),
        },
        Surface {
            name: "openai embeddings",
            path: "/v1/embeddings",
            dialect: Dialect::OpenAi,
            body: |m| json!({"model": m, "input": "hi"}),
            known: "emb",
            alias: "E:1",
            incapable: ("chatm", "\"chatm\" does not support embeddings"),
        },
        Surface {
            name: "anthropic messages",
            path: "/v1/messages",
            dialect: Dialect::Anthropic,
            body: |m| json!({"model": m, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
            known: "chatm",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support chat"),
        },
        Surface {
            name: "gitlab completions",
            path: "/v2/code/completions",
            dialect: Dialect::GitLab,
            body: gitlab_completion,
            known: "coder",
            alias: "CC:1b",
            incapable: ("emb", "\"emb\" does not support generate"),
        },
    ]
}

async fn call(app: &axum::Router, s: &Surface, model: &str) -> (StatusCode, Value) {
    let req = Request::post(s.path)
        .header("content-type", "application/json")
        .body(Body::from((s.body)(model).to_string()))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The error text in the dialect's shape, or `None` if the body is not that shape.
fn error_text(dialect: Dialect, body: &Value) -> Option<&str> {
    match dialect {
        Dialect::Ollama => body.get("error")?.as_str(),
        Dialect::OpenAi => body.get("error")?.get("message")?.as_str(),
        Dialect::Anthropic => {
            (body.get("type")? == "error").then_some(())?;
            body.get("error")?.get("message")?.as_str()
        }
        Dialect::GitLab => body.get("detail")?.as_str(),
    }
}

#[tokio::test]
async fn a_suffix_needs_the_insert_capability_on_every_surface() {
    let bare = app("");
    for s in [
        Surface {
            name: "ollama generate",
            path: "/api/generate",
            dialect: Dialect::Ollama,
            body: |m| json!({"model": m, "prompt": "def f(", "suffix": "\n", "stream": false}),
            known: "",
            alias: "",
            incapable: ("coder", "coder does not support insert"),
        },
        Surface {
            name: "openai completions",
            path: "/v1/completions",
            dialect: Dialect::OpenAi,
            body: |m| json!({"model": m, "prompt": "def f(", "suffix": "\n"}),
            known: "",
            alias: "",
            incapable: ("coder", "coder does not support insert"),
        },
    ] {
        let (status, body) = call(&bare, &s, s.incapable.0).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", s.name);
        assert_eq!(
            error_text(s.dialect, &body),
            Some(s.incapable.1),
            "{}",
            s.name
        );
    }
}

#[tokio::test]
async fn every_surface_routes_by_one_rule() {
    let with_features = app(FEATURE_MODELS);
    let bare = app("");
    let off = app(FEATURES_OFF);
    for s in surfaces() {
        let (status, body) = call(&bare, &s, s.known).await;
        assert_eq!(status, StatusCode::OK, "{}: known model: {body}", s.name);
        let (status, body) = call(&bare, &s, s.alias).await;
        assert_eq!(status, StatusCode::OK, "{}: alias: {body}", s.name);

        // Unknown name with the feature's model configured: the feature's model answers.
        let (status, body) = call(&with_features, &s, "gpt-4o").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: unknown → feature model: {body}",
            s.name
        );

        // Unknown name, no feature model: Ollama's 404 text, except for GitLab, whose
        // names are hints and fall to the first model that can serve the feature.
        let (status, body) = call(&bare, &s, "gpt-4o").await;
        match s.dialect {
            Dialect::GitLab => assert_eq!(status, StatusCode::OK, "{}: {body}", s.name),
            d => {
                assert_eq!(status, StatusCode::NOT_FOUND, "{}: unknown: {body}", s.name);
                assert_eq!(
                    error_text(d, &body),
                    Some("model 'gpt-4o' not found"),
                    "{}: {body}",
                    s.name
                );
            }
        }

        // The feature switched off: 403 naming it, in the dialect.
        let (status, body) = call(&off, &s, s.known).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{}: feature off: {body}",
            s.name
        );
        let text = error_text(s.dialect, &body).unwrap_or_default();
        assert!(text.contains("feature is turned off"), "{}: {body}", s.name);

        // A model without the capability: one 400 (GitLab: 422) in Ollama's words.
        let (model, words) = s.incapable;
        let (status, body) = call(&bare, &s, model).await;
        let want = match s.dialect {
            Dialect::GitLab => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        assert_eq!(status, want, "{}: incapable: {body}", s.name);
        assert_eq!(
            error_text(s.dialect, &body),
            Some(words),
            "{}: {body}",
            s.name
        );
    }
}
