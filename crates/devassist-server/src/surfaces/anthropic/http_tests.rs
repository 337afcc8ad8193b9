//! The Anthropic surface as a client meets it: the whole app in memory on the mock
//! (messages, the event stream, tools, errors, count_tokens, the model list), and random
//! bodies that must give a request or a 400.

use crate::config;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const CONFIG: &str = r#"
[[backends]]
name = "m"
kind = "mock"

[[models]]
name = "chatm"
backend = "m"
aliases = ["claude-sonnet-*"]
capabilities = ["completion", "tools"]

[[models]]
name = "plain"
backend = "m"

[aliases]
"claude-3-5-haiku-latest" = "plain"
"#;

fn app() -> axum::Router {
    let settings = config::from_str(CONFIG, &[], &|_| None).expect("valid config");
    crate::app(crate::build(&settings, None).expect("gateway builds"))
}

async fn post(app: &axum::Router, path: &str, body: Value) -> (StatusCode, String) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "anything")
        .header("anthropic-beta", "claude-code-20250219")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_whole_message_echoes_on_the_mock_with_claude_names() {
    let app = app();
    let (status, body) = post(
        &app,
        "/v1/messages",
        json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 64,
               "system": "Be brief.",
               "messages": [{"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "hello there"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
}

/// The event names of an SSE body, and each event's data.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in f.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            assert_eq!(data["type"], name.as_str(), "{f}");
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_stream_follows_anthropics_event_sequence_and_stops_at_a_stop_sequence() {
    let app = app();
    let (status, body) = post(
        &app,
        "/v1/messages",
        json!({"model": "chatm", "max_tokens": 64, "stream": true,
               "stop_sequences": ["STOP"],
               "messages": [{"role": "user", "content": "one two STOP three"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ev = events(&body);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "one two ");
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "stop_sequence");
    assert_eq!(delta["delta"]["stop_sequence"], "STOP");
}

#[tokio::test]
async fn tools_round_trip_on_the_mock() {
    let app = app();
    let tools = json!([{"name": "get_weather", "description": "Weather for a city",
                        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                         "required": ["city"]}}]);
    let (status, body) = post(
        &app,
        "/v1/messages",
        json!({"model": "chatm", "max_tokens": 64, "stream": true, "tools": tools,
               "messages": [{"role": "user", "content": "What is the weather in Oslo"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ev = events(&body);
    let start = ev
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let id = start.1["content_block"]["id"].as_str().unwrap().to_owned();
    let json_delta = ev
        .iter()
        .find(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .unwrap();
    let input: Value =
        serde_json::from_str(json_delta.1["delta"]["partial_json"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"city": "Oslo"}));
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");

    let (status, body) = post(
        &app,
        "/v1/messages",
        json!({"model": "chatm", "max_tokens": 64, "tools": tools,
               "messages": [
                   {"role": "user", "content": "What is the weather in Oslo"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "get_weather", "input": input}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "12 degrees"}]}
               ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["content"][0]["text"], "12 degrees");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let app = app();
    let cases = [
        (
            json!({"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
            404,
            "not_found_error",
        ),
        (
            json!({"model": "chatm", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "bogus"}]}]}),
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "chatm", "max_tokens": 100_000_000_000_i64, "messages": [{"role": "user", "content": "hi"}]}),
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "chatm", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], "nope": 1}),
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "plain", "max_tokens": 8, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                   "messages": [{"role": "user", "content": "hi"}]}),
            400,
            "invalid_request_error",
        ),
    ];
    for (body, status, kind) in cases {
        let (got, text) = post(&app, "/v1/messages", body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error", "{text}");
        assert_eq!(v["error"]["type"], kind, "{text}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Malformed JSON too.
    let req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[test]
fn gateway_errors_map_to_anthropics_types_and_statuses() {
    use super::dialect::AnthropicDialect;
    use devassist_core::GatewayError;
    for (err, status, kind) in [
        (GatewayError::overloaded("busy"), 529, "overloaded_error"),
        (GatewayError::backend_error("x"), 502, "api_error"),
        (GatewayError::backend_timeout("x"), 504, "timeout_error"),
        (GatewayError::unauthorized("x"), 401, "authentication_error"),
        (GatewayError::forbidden("x"), 403, "permission_error"),
        (GatewayError::model_not_found("x"), 404, "not_found_error"),
    ] {
        assert_eq!(AnthropicDialect::status(&err), status);
        assert_eq!(AnthropicDialect::body_of(&err)["error"]["type"], kind);
    }
}

#[tokio::test]
async fn count_tokens_counts_and_resolves_the_model() {
    let app = app();
    let small = json!({"model": "claude-3-5-haiku-latest",
                       "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = post(&app, "/v1/messages/count_tokens", small).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let n_small = serde_json::from_str::<Value>(&body).unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    let big = json!({"model": "claude-3-5-haiku-latest", "system": "x ".repeat(300),
                     "messages": [{"role": "user", "content": "hi"}]});
    let (_, body) = post(&app, "/v1/messages/count_tokens", big).await;
    let n_big = serde_json::from_str::<Value>(&body).unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(n_small > 0 && n_big > n_small + 150, "{n_small} {n_big}");
    let (status, body) = post(
        &app,
        "/v1/messages/count_tokens",
        json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn models_answer_in_anthropics_shape_with_anthropic_version() {
    let app = app();
    let get = |headers: bool, path: &'static str| {
        let app = app.clone();
        async move {
            let mut req = Request::get(path);
            if headers {
                req = req.header("anthropic-version", "2023-06-01");
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (_, v) = get(true, "/v1/models").await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // Exact claude-* aliases are listed (Claude Code's picker shows only those), patterns not.
    assert_eq!(ids, ["chatm", "plain", "claude-3-5-haiku-latest"]);
    assert_eq!(v["data"][0]["type"], "model");
    assert!(v["data"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "chatm");
    assert_eq!(v["last_id"], "claude-3-5-haiku-latest");
    let (_, v) = get(true, "/v1/models?limit=1").await;
    assert_eq!(v["has_more"], true);
    let (_, v) = get(true, "/v1/models?limit=1&after_id=chatm").await;
    assert_eq!(v["first_id"], "plain");
    let (_, v) = get(false, "/v1/models").await;
    assert_eq!(v["object"], "list");
    let (status, v) = get(true, "/v1/models/claude-sonnet-4-5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["id"], "claude-sonnet-4-5");
    let (status, v) = get(true, "/v1/models/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["type"], "not_found_error");
}

mod fuzz {
    use super::super::{convert, wire::MessagesBody};
    use crate::surfaces::extract::parse;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn block_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("text"),
                Just("image"),
                Just("tool_use"),
                Just("tool_result"),
                Just("thinking"),
                Just("base64"),
                Just("image/png"),
                Just("toolu_1"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
            ".{0,10}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_string()),
                        Just("text".to_string()),
                        Just("source".to_string()),
                        Just("media_type".to_string()),
                        Just("data".to_string()),
                        Just("id".to_string()),
                        Just("name".to_string()),
                        Just("input".to_string()),
                        Just("tool_use_id".to_string()),
                        Just("content".to_string()),
                        Just("is_error".to_string()),
                        ".{0,6}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn decode(bytes: &[u8]) {
        if let Ok(b) = parse::<MessagesBody>(bytes) {
            let system = convert::system(b.system).ok().flatten();
            let _ = convert::messages(system, b.messages.unwrap_or_default());
            let _ = convert::tools(b.tools, b.tool_choice);
            let _ = convert::sampling(b.max_tokens, b.temperature, b.top_p, b.top_k);
            let _ = convert::stop_sequences(b.stop_sequences);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_blocks_never_panic(v in block_value(), w in block_value()) {
            decode(v.to_string().as_bytes());
            let body = json!({"model": "m", "max_tokens": 8, "system": w.clone(), "tools": [w.clone()],
                "messages": [
                    {"role": "assistant", "content": [v.clone()]},
                    {"role": "user", "content": [v.clone(), w.clone()]},
                    {"role": "user", "content": v.clone()}
                ]});
            decode(body.to_string().as_bytes());
        }
    }
}
