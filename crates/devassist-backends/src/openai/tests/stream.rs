//! Recorded upstream streams replayed over a real socket, end to end through the backend.

use super::fixtures::*;
use super::{backend, chat, ctx};
use crate::test_server::drain;
use crate::test_server::{Reply, TestServer};
use devassist_core::{
    Backend, EmbedRequest, Event, FinishReason, Prompt, Timings, ToolCall, Usage,
};
use serde_json::{Map, json};
use std::time::Duration;

#[tokio::test]
async fn vllm_reasoning_stream_with_usage_after_finish() {
    let server = TestServer::start(vec![Reply::sse(VLLM_CHAT_REASONING)]).await;
    let stream = backend(&server).generate(chat("hi"), &ctx()).await.unwrap();
    let (events, err) = drain(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        vec![
            Event::Reasoning("The user greets.".into()),
            Event::Text("Hello".into()),
            Event::Text(" wörld 🦀".into()),
            Event::done(
                FinishReason::Stop,
                Usage {
                    prompt_tokens: 12,
                    completion_tokens: 5
                }
            ),
        ]
    );
    let request = server.request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer sk-secret-test-key")
    );
    assert_eq!(request.header("x-request-id"), Some("req-42"));
    assert_eq!(request.header("x-tenant"), Some("team-a"));
    assert_eq!(
        request.json(),
        json!({
            "model": "qwen",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[tokio::test]
async fn bytes_split_anywhere_on_the_wire_decode_the_same() {
    let whole: String = VLLM_CHAT_REASONING.concat();
    // Pieces of 7 bytes cut through JSON, line endings and the multi-byte characters.
    let raw: Vec<Vec<u8>> = whole.as_bytes().chunks(7).map(<[u8]>::to_vec).collect();
    let reply = Reply::Respond {
        status: 200,
        content_type: Some("text/event-stream; charset=utf-8".into()),
        parts: raw.into_iter().map(|p| (Duration::ZERO, p)).collect(),
        framing: crate::test_server::Framing::Chunked,
    };
    let server = TestServer::start(vec![reply, Reply::sse(VLLM_CHAT_REASONING)]).await;
    let split = drain(backend(&server).generate(chat("hi"), &ctx()).await.unwrap()).await;
    let whole = drain(backend(&server).generate(chat("hi"), &ctx()).await.unwrap()).await;
    assert!(split.1.is_none() && whole.1.is_none());
    assert_eq!(split.0, whole.0);
    assert_eq!(split.0.len(), 4);
}

#[tokio::test]
async fn tool_call_argument_deltas_become_whole_calls_before_done() {
    let server = TestServer::start(vec![Reply::sse(VLLM_TOOL_CALLS)]).await;
    let stream = backend(&server)
        .generate(chat("weather?"), &ctx())
        .await
        .unwrap();
    let (events, err) = drain(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        vec![
            Event::ToolCall(ToolCall {
                id: "chatcmpl-tool-7f3e".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }),
            Event::ToolCall(ToolCall {
                id: "chatcmpl-tool-8b21".into(),
                name: "get_time".into(),
                arguments: json!({"tz": "CET"}),
            }),
            Event::done(
                FinishReason::ToolCalls,
                Usage {
                    prompt_tokens: 210,
                    completion_tokens: 40
                }
            ),
        ]
    );
}

#[tokio::test]
async fn unparsable_tool_arguments_are_kept_as_a_string() {
    let server = TestServer::start(vec![Reply::sse(&[
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"run\",\"arguments\":\"{oops\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    ])])
    .await;
    let (events, _) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    let Event::ToolCall(call) = &events[0] else {
        panic!("expected a tool call, got {events:?}");
    };
    assert_eq!(call.name, "run");
    assert_eq!(call.arguments, json!("{oops"));
    assert!(call.id.starts_with("call_"), "a generated id: {}", call.id);
    assert!(matches!(
        events[1],
        Event::Done {
            finish: FinishReason::ToolCalls,
            ..
        }
    ));
}

#[tokio::test]
async fn llama_server_timings_and_length_finish() {
    let server = TestServer::start(vec![Reply::sse(LLAMA_SERVER_CHAT)]).await;
    let (events, err) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events[..2],
        [Event::Text("def".into()), Event::Text(" fib".into())]
    );
    assert_eq!(
        events[2],
        Event::Done {
            finish: FinishReason::Length,
            usage: Usage {
                prompt_tokens: 9,
                completion_tokens: 2
            },
            timings: Timings {
                total: None,
                load: None,
                prompt_eval: Some(Duration::from_micros(12_500)),
                eval: Some(Duration::from_millis(30)),
            },
            context: None,
        }
    );
}

#[tokio::test]
async fn fim_completion_stream_with_crlf_and_usage_from_timings() {
    let server = TestServer::start(vec![Reply::sse(LLAMA_SERVER_FIM)]).await;
    let req = devassist_core::GenerateRequest::new(
        "qwen2.5-coder-1.5b",
        Prompt::Completion {
            prompt: "def fib(n):\n    ".into(),
            suffix: Some("\n".into()),
            system: None,
            raw: false,
            template: None,
            images: Vec::new(),
        },
    );
    let (events, err) = drain(backend(&server).generate(req, &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "if n < 2:\n        return n");
    let Some(Event::Done { usage, finish, .. }) = events.last() else {
        panic!("no Done: {events:?}");
    };
    assert_eq!(*finish, FinishReason::Stop);
    assert_eq!(
        *usage,
        Usage {
            prompt_tokens: 14,
            completion_tokens: 6
        }
    );
    let request = server.request();
    assert_eq!(request.path, "/v1/completions");
    assert_eq!(request.json()["suffix"], json!("\n"));
}

#[tokio::test]
async fn ollama_v1_stream() {
    let server = TestServer::start(vec![Reply::sse(OLLAMA_V1_CHAT)]).await;
    let (events, err) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    assert!(err.is_none());
    assert_eq!(
        events,
        vec![
            Event::Text("Hel".into()),
            Event::Text("lo".into()),
            Event::done(
                FinishReason::Stop,
                Usage {
                    prompt_tokens: 26,
                    completion_tokens: 2
                }
            ),
        ]
    );
}

#[tokio::test]
async fn finish_without_done_marker_still_completes() {
    // Some servers close right after the finish chunk; the answer is complete.
    let server = TestServer::start(vec![Reply::sse(&LLAMA_SERVER_CHAT[..4])]).await;
    let (events, err) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert!(matches!(
        events.last(),
        Some(Event::Done {
            finish: FinishReason::Length,
            ..
        })
    ));
}

#[tokio::test]
async fn non_streaming_call_gives_events_then_done() {
    let server = TestServer::start(vec![Reply::ok("application/json", &[VLLM_CHAT_JSON])]).await;
    let mut req = chat("weather in Oslo?");
    req.stream = false;
    let (events, err) = drain(backend(&server).generate(req, &ctx()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        vec![
            Event::Text("Checking.".into()),
            Event::ToolCall(ToolCall {
                id: "chatcmpl-tool-11".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Oslo"}),
            }),
            Event::done(
                FinishReason::ToolCalls,
                Usage {
                    prompt_tokens: 180,
                    completion_tokens: 20
                }
            ),
        ]
    );
    let body = server.request().json();
    assert_eq!(body["stream"], json!(false));
    assert!(body.get("stream_options").is_none());
}

#[tokio::test]
async fn server_that_ignores_stream_true_is_read_as_one_response() {
    let server = TestServer::start(vec![Reply::ok("application/json", &[VLLM_CHAT_JSON])]).await;
    let (events, err) = drain(backend(&server).generate(chat("x"), &ctx()).await.unwrap()).await;
    assert!(err.is_none());
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let server = TestServer::start(vec![Reply::ok("application/json", &[VLLM_EMBEDDINGS])]).await;
    let req = EmbedRequest {
        model: "BAAI/bge-m3".into(),
        input: vec!["first".into(), "second one".into()],
        dimensions: None,
        truncate: true,
        keep_alive: None,
        options: Map::new(),
    };
    let response = backend(&server).embed(req, &ctx()).await.unwrap();
    assert_eq!(response.embeddings, vec![vec![0.5, -0.25], vec![0.0, 1.0]]);
    assert_eq!(response.prompt_tokens, 7);
    let request = server.request();
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(request.header("x-request-id"), Some("req-42"));
}

#[tokio::test]
async fn vllm_400_passes_through_with_its_message() {
    let server = TestServer::start(vec![Reply::status(400, "application/json", &[VLLM_400])]).await;
    let err = backend(&server)
        .generate(chat("x"), &ctx())
        .await
        .err()
        .unwrap();
    assert_eq!(err.upstream_status, Some(400));
    assert_eq!(err.status(), 400);
    assert!(
        err.message
            .starts_with("This model's maximum context length is 8192 tokens")
    );
}
