//! `/v1/responses` through the whole app in memory, on the mock: the warning header, the
//! streamed event sequence for a custom tool call, and errors in OpenAI's shape.

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
name = "agent"
backend = "m"
capabilities = ["completion", "tools"]
context_length = 4096
"#;

async fn post(body: Value) -> (StatusCode, axum::http::HeaderMap, String) {
    let settings = config::from_str(CONFIG, &[], &|_| None).expect("valid config");
    let app = crate::app(crate::build(&settings, None).expect("gateway builds"));
    let req = Request::post("/v1/responses")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = app.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// (event line, data) of each server-sent event.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines
                .next()
                .and_then(|l| l.strip_prefix("event: "))
                .expect("event line");
            let data = lines
                .next()
                .and_then(|l| l.strip_prefix("data: "))
                .expect("data line");
            (
                event.to_owned(),
                serde_json::from_str(data).expect("JSON data"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_custom_tool_call_streams_as_custom_tool_call_events_with_the_warning() {
    let (status, headers, body) = post(json!({
        "model": "agent",
        "stream": true,
        "store": false,
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAA"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "call apply_patch *** Begin Patch\n*** End Patch"}]},
        ],
        "tools": [
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            {"type": "web_search"},
            {"type": "image_generation"},
        ],
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers
            .get("x-devassist-warning")
            .and_then(|v| v.to_str().ok()),
        Some("ignored tools the gateway cannot run: web_search, image_generation")
    );
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let events = events(&body);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (kind, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], kind.as_str());
        assert_eq!(data["sequence_number"], i);
    }
    let item = &events[5].1["item"];
    assert_eq!(item["type"], "custom_tool_call");
    assert_eq!(item["input"], "*** Begin Patch\n*** End Patch");
}

#[tokio::test]
async fn errors_are_in_openai_shape_with_their_status() {
    let (status, _, body) =
        post(json!({"model": "agent", "input": "x", "previous_response_id": "resp_1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "previous_response_id");

    let (status, _, body) =
        post(json!({"model": "agent", "input": "x", "max_output_tokens": 100_000})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("context of 4096"), "{body}");

    let (status, _, body) = post(json!({"model": "ghost", "input": "x", "stream": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"]["message"], "model 'ghost' not found");
}

#[tokio::test]
async fn a_plain_answer_is_one_response_object() {
    let (status, headers, body) = post(json!({"model": "agent", "input": "hello there"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.get("x-devassist-warning").is_none());
    let r: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["output"][0]["content"][0]["text"], "hello there");
    assert_eq!(r["usage"]["output_tokens"], 2);
}
