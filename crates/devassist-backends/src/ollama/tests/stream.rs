//! Recorded Ollama streams replayed over a real socket, end to end through the backend.

use super::fixtures::*;
use super::{backend, ctx};
use crate::test_server::{Reply, TestServer, drain};
use bytes::Bytes;
use devassist_core::{
    Backend, EmbedRequest, Event, FinishReason, GenerateRequest, ManageOp, Message, Prompt, Role,
    Timings, ToolCall, Usage,
};
use futures::StreamExt;
use serde_json::{Map, json};
use std::time::Duration;

fn chat(text: &str) -> GenerateRequest {
    GenerateRequest::new(
        "qwen3:8b",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, text)],
            tools: Vec::new(),
        },
    )
}

fn fim() -> GenerateRequest {
    GenerateRequest::new(
        "qwen2.5-coder:1.5b",
        Prompt::Completion {
            prompt: "def fib(n):\n    ".into(),
            suffix: Some("\n".into()),
            system: None,
            raw: false,
            template: None,
            images: Vec::new(),
        },
    )
}

#[tokio::test]
async fn chat_stream_with_thinking_tool_call_and_metrics() {
    let server = TestServer::start(vec![Reply::ndjson(CHAT_THINKING_TOOLS)]).await;
    let stream = backend(&server)
        .generate(chat("weather in Tokyo?"), &ctx())
        .await
        .unwrap();
    let (events, err) = drain(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        vec![
            Event::Reasoning("Need the weather.".into()),
            Event::Text("Let me check".into()),
            Event::ToolCall(ToolCall {
                id: "call_ab12cd34".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Tokyo"}),
            }),
            Event::Done {
                finish: FinishReason::ToolCalls,
                usage: Usage {
                    prompt_tokens: 169,
                    completion_tokens: 15
                },
                timings: Timings {
                    total: Some(Duration::from_nanos(182_242_375)),
                    load: Some(Duration::from_nanos(41_295_167)),
                    prompt_eval: Some(Duration::from_nanos(24_573_166)),
                    eval: Some(Duration::from_nanos(115_959_084)),
                },
                context: None,
            },
        ]
    );
    let request = server.request();
    assert_eq!(request.path, "/api/chat");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer ollama-secret-key")
    );
    assert_eq!(request.header("x-request-id"), Some("req-7"));
}

#[tokio::test]
async fn generate_fim_stream_keeps_context_and_length() {
    // Ollama writes each line in its own write, but a proxy may merge or split them.
    let whole = GENERATE_FIM.concat();
    let (a, b) = whole.split_at(whole.len() / 3);
    let server = TestServer::start(vec![Reply::ndjson(&[a, b])]).await;
    let (events, err) = drain(backend(&server).generate(fim(), &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events[0], Event::Text("if n < 2".into()));
    assert_eq!(events[1], Event::Text(":\n        return n".into()));
    let Event::Done {
        finish,
        usage,
        context,
        timings,
    } = &events[2]
    else {
        panic!("expected Done, got {:?}", events[2]);
    };
    assert_eq!(*finish, FinishReason::Length);
    assert_eq!(usage.completion_tokens, 259);
    assert_eq!(timings.total, Some(Duration::from_nanos(10_706_818_083)));
    assert_eq!(context.as_deref(), Some(&[151659, 750, 15801, 151661][..]));
    let request = server.request();
    assert_eq!(request.path, "/api/generate");
    assert_eq!(request.json()["suffix"], json!("\n"));
}

#[tokio::test]
async fn non_streamed_answer_is_one_object_without_newline() {
    let server = TestServer::start(vec![Reply::ok(
        "application/json; charset=utf-8",
        &[GENERATE_ONE_OBJECT],
    )])
    .await;
    let mut req = fim();
    req.stream = false;
    let (events, err) = drain(backend(&server).generate(req, &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events[0], Event::Text("The sky is blue.".into()));
    assert!(matches!(
        &events[1],
        Event::Done { finish: FinishReason::Stop, context: Some(c), .. } if c == &[1, 2, 3]
    ));
    assert_eq!(server.request().json()["stream"], json!(false));
}

#[tokio::test]
async fn error_line_mid_stream_ends_with_that_error() {
    let server = TestServer::start(vec![Reply::ndjson(CHAT_ERROR_MID_STREAM)]).await;
    let (events, err) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    assert_eq!(events, vec![Event::Text("Hel".into())]);
    let err = err.expect("an error item");
    assert_eq!(
        err.message,
        "an error was encountered while running the model: unexpected EOF"
    );
    assert_eq!(err.status(), 502);
}

#[tokio::test]
async fn error_line_first_is_returned_before_the_stream() {
    let server = TestServer::start(vec![Reply::ndjson(&CHAT_ERROR_MID_STREAM[1..])]).await;
    let err = backend(&server)
        .generate(chat("x"), &ctx())
        .await
        .err()
        .unwrap();
    assert!(err.message.starts_with("an error was encountered"));
}

#[tokio::test]
async fn model_not_found_keeps_ollamas_text_and_status() {
    let server = TestServer::start(vec![Reply::status(
        404,
        "application/json; charset=utf-8",
        &["{\"error\":\"model 'nope:1b' not found\"}"],
    )])
    .await;
    let err = backend(&server)
        .generate(chat("x"), &ctx())
        .await
        .err()
        .unwrap();
    assert_eq!(err.message, "model 'nope:1b' not found");
    assert_eq!(err.upstream_status, Some(404));
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn embed_calls_api_embed() {
    let server = TestServer::start(vec![Reply::ok("application/json", &[EMBED])]).await;
    let req = EmbedRequest {
        model: "all-minilm".into(),
        input: vec!["a".into(), "b".into()],
        dimensions: None,
        truncate: true,
        keep_alive: None,
        options: Map::new(),
    };
    let response = backend(&server).embed(req, &ctx()).await.unwrap();
    assert_eq!(response.embeddings.len(), 2);
    assert_eq!(response.embeddings[1], vec![0.5, 0.25]);
    assert_eq!(response.prompt_tokens, 8);
    assert_eq!(server.request().path, "/api/embed");
}

#[tokio::test]
async fn embed_count_mismatch_is_malformed() {
    let server = TestServer::start(vec![Reply::ok("application/json", &[EMBED])]).await;
    let req = EmbedRequest {
        model: "all-minilm".into(),
        input: vec!["only one".into()],
        dimensions: None,
        truncate: true,
        keep_alive: None,
        options: Map::new(),
    };
    let err = backend(&server).embed(req, &ctx()).await.err().unwrap();
    assert_eq!(err.message, crate::MALFORMED);
}

#[tokio::test]
async fn pull_passes_body_and_progress_through() {
    let server = TestServer::start(vec![Reply::ndjson(PULL_PROGRESS)]).await;
    let body = Bytes::from_static(b"{\"model\":\"llama3.2\",\"insecure\":true}");
    let response = backend(&server)
        .manage(ManageOp::Pull, body.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers.get("content-type").map(String::as_str),
        Some("application/x-ndjson")
    );
    assert!(!response.headers.contains_key("transfer-encoding"));
    let chunks: Vec<Bytes> = response.body.map(|c| c.unwrap()).collect().await;
    assert_eq!(chunks.concat(), PULL_PROGRESS.concat().into_bytes());
    let request = server.request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/pull")
    );
    assert_eq!(request.body, body.to_vec());
}

#[tokio::test]
async fn delete_uses_http_delete_and_keeps_a_404() {
    let server = TestServer::start(vec![Reply::status(
        404,
        "application/json; charset=utf-8",
        &["{\"error\":\"model 'x' not found\"}"],
    )])
    .await;
    let response = backend(&server)
        .manage(
            ManageOp::Delete,
            Bytes::from_static(b"{\"model\":\"x\"}"),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 404);
    let chunks: Vec<Bytes> = response.body.map(|c| c.unwrap()).collect().await;
    assert_eq!(
        chunks.concat(),
        b"{\"error\":\"model 'x' not found\"}".to_vec()
    );
    let request = server.request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("DELETE", "/api/delete")
    );
}
