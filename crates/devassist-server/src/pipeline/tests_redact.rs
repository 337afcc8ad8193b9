//! The redaction stage in the pipeline, on the mock backend (which records the request it
//! got and echoes the last user message): what the backend sees, what the client gets, and
//! the stage's place before the prompt stage's trimming.

use super::Requested;
use crate::config;
use crate::state::AppState;
use devassist_core::prompt::FimInput;
use devassist_core::{
    CallContext, Event, Feature, GenerateRequest, Message, Prompt, Role, Task, ToolCall,
};
use futures::StreamExt;
use serde_json::Value;

fn token(body_len: usize) -> String {
    let body: String = "Rt7Yu8Io9Pa0".chars().cycle().take(body_len).collect();
    format!("ghp_{body}")
}

fn gateway(redact: Option<bool>) -> AppState {
    let setting = redact.map_or(String::new(), |r| format!("redact_secrets = {r}"));
    let text = format!(
        r#"
[engine]
enabled = false

[[backends]]
name = "m"
kind = "mock"
{setting}
[backends.mock]
tokens = 4096

[[models]]
name = "coder"
backend = "m"
capabilities = ["completion", "insert", "tools"]
context_length = 256
[models.prompt]
family = "qwen2.5-coder"
"#
    );
    let settings = config::from_str(&text, &[], &|_| None).expect("valid config");
    crate::build(&settings, None).expect("gateway builds")
}

/// Runs `req` through the pipeline; the events the client gets and the request the
/// backend got.
async fn run(gw: &AppState, feature: Feature, req: GenerateRequest) -> (Vec<Event>, Value) {
    let route = gw.route(feature, Requested::Name("coder")).expect("routed");
    let started = gw
        .generate(&route, feature, req, &CallContext::new("t"))
        .await
        .expect("answered");
    let events: Vec<Event> = started
        .into_stream()
        .map(|e| e.expect("no error"))
        .collect()
        .await;
    let described = match &gw.pool.slots()[0].driver {
        crate::pool::Driver::AlwaysOn(b) => b.describe(),
        crate::pool::Driver::Managed(_) => None,
    };
    let sent = described
        .and_then(|d| d.get("last_request").cloned())
        .expect("the mock recorded the request");
    (events, sent)
}

fn text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn chat(content: &str) -> GenerateRequest {
    GenerateRequest::new(
        "coder",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, content)],
            tools: vec![serde_json::json!({
                "type": "function",
                "function": {"name": "deploy", "parameters": {"type": "object"}}
            })],
        },
    )
}

#[tokio::test]
async fn the_backend_gets_placeholders_and_the_client_gets_its_secrets_back() {
    let secret = token(40);
    let asked = format!("push with {secret} and password = \"open-sesame-42\" now");
    let gw = gateway(Some(true));
    let (events, sent) = run(&gw, Feature::Chat, chat(&asked)).await;
    let sent = sent.to_string();
    assert!(
        !sent.contains(&secret) && !sent.contains("open-sesame-42"),
        "{sent}"
    );
    assert!(sent.contains("<SECRET_GITHUB_TOKEN_1>") && sent.contains("<SECRET_PASSWORD_1>"));
    assert_eq!(
        text(&events),
        asked,
        "the echo of the placeholders is restored"
    );

    // A tool call whose arguments carry a placeholder comes back with the secret.
    let (events, _) = run(&gw, Feature::Chat, chat(&format!("call deploy {secret}"))).await;
    let calls: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCall(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].arguments["input"], secret.as_str());
}

#[tokio::test]
async fn a_local_backend_gets_the_prompt_as_it_is() {
    let secret = token(40);
    let (events, sent) = run(&gateway(None), Feature::Chat, chat(&secret)).await;
    assert!(sent.to_string().contains(&secret));
    assert_eq!(text(&events), secret);
}

/// A secret far longer than the context: the prompt stage trims the FIM prefix through its
/// middle. Redacted after trimming, the tail of the token (without its `ghp_`) would go out
/// unrecognised; redacted before, the backend gets the placeholder and not one piece of it.
#[tokio::test]
async fn regression_a_secret_the_fim_budget_cuts_in_half_does_not_leak_its_tail() {
    let secret = token(3000);
    let prefix = format!("# deploy\nTOKEN = {secret}\ndef main():\n    ");
    let mut req = GenerateRequest::new(
        "coder",
        Prompt::Completion {
            prompt: String::new(),
            suffix: None,
            system: None,
            raw: false,
            template: None,
            images: vec![],
        },
    );
    req.task = Task::Fill(FimInput::new(prefix, "\n    return 0\n"));
    // Without redaction the token's tail is what the budget keeps.
    let (_, plain) = run(&gateway(Some(false)), Feature::CodeCompletion, req.clone()).await;
    let plain = plain["prompt"]["prompt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !plain.contains("ghp_") && plain.contains(&secret[secret.len() - 40..]),
        "the budget cut the token: {plain}"
    );
    let (_, sent) = run(&gateway(Some(true)), Feature::CodeCompletion, req).await;
    let sent = sent["prompt"]["prompt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(sent.contains("TOKEN = <SECRET_GITHUB_TOKEN_1>\n"), "{sent}");
    let body = &secret[4..];
    for window in 0..body.len() - 12 {
        assert!(!sent.contains(&body[window..window + 12]), "{sent}");
    }
}
