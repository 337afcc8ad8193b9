//! The mock on tokio's paused clock: delays are exact and the tests take no real time.

use super::faults::{Faults, SLOW_DEFAULT};
use super::script::split_tokens;
use super::*;
use crate::test_server::drain;
use devassist_core::{ErrorKind, FinishReason, Message, Prompt, Role};
use futures::StreamExt;
use proptest::prelude::*;
use serde_json::json;
use tokio::time::Instant;

fn mock(config: MockConfig) -> MockBackend {
    MockBackend::new(config)
}

fn chat(model: &str, text: &str) -> GenerateRequest {
    GenerateRequest::new(
        model,
        Prompt::Chat {
            messages: vec![
                Message::new(Role::System, "be nice"),
                Message::new(Role::User, text),
            ],
            tools: Vec::new(),
        },
    )
}

fn text_of(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn done_of(events: &[Event]) -> (FinishReason, Usage, Timings) {
    match events.last() {
        Some(Event::Done {
            finish,
            usage,
            timings,
            ..
        }) => (*finish, *usage, *timings),
        other => panic!("expected Done last, got {other:?}"),
    }
}

async fn run(backend: &MockBackend, req: GenerateRequest) -> (Vec<Event>, Option<GatewayError>) {
    drain(
        backend
            .generate(req, &CallContext::default())
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn echo_repeats_the_last_user_message_word_by_word() {
    let backend = mock(MockConfig::default());
    let (events, err) = run(&backend, chat("m", "Hello  there\nworld ")).await;
    assert!(err.is_none());
    assert_eq!(
        events[..4],
        [
            Event::Text("Hello".into()),
            Event::Text("  there".into()),
            Event::Text("\nworld".into()),
            Event::Text(" ".into()),
        ]
    );
    let (finish, usage, _) = done_of(&events);
    assert_eq!(finish, FinishReason::Stop);
    // "be nice" + "Hello there world".
    assert_eq!(
        usage,
        Usage {
            prompt_tokens: 5,
            completion_tokens: 4
        }
    );
}

#[tokio::test(start_paused = true)]
async fn echo_of_a_fim_request_is_the_prefix() {
    let backend = mock(MockConfig::default());
    let req = GenerateRequest::new(
        "m",
        Prompt::Completion {
            prompt: "def fib(n):".into(),
            suffix: Some("\n".into()),
            system: None,
            raw: false,
            template: None,
            images: Vec::new(),
        },
    );
    let (events, _) = run(&backend, req).await;
    assert_eq!(text_of(&events), "def fib(n):");
}

#[tokio::test(start_paused = true)]
async fn fixed_text_cycles_up_to_the_token_count() {
    let backend = mock(MockConfig {
        mode: MockMode::Fixed,
        text: "one two three".into(),
        tokens: 5,
        ..MockConfig::default()
    });
    let (events, _) = run(&backend, chat("m", "ignored")).await;
    assert_eq!(text_of(&events), "one two three one two");
    let (finish, usage, _) = done_of(&events);
    assert_eq!((finish, usage.completion_tokens), (FinishReason::Stop, 5));
}

#[tokio::test(start_paused = true)]
async fn max_tokens_cuts_with_length() {
    let backend = mock(MockConfig {
        mode: MockMode::Fixed,
        ..MockConfig::default()
    });
    let mut req = chat("m", "x");
    req.sampling.max_tokens = Some(3);
    let (events, _) = run(&backend, req).await;
    assert_eq!(text_of(&events), "The quick brown");
    let (finish, usage, _) = done_of(&events);
    assert_eq!((finish, usage.completion_tokens), (FinishReason::Length, 3));
}

#[tokio::test(start_paused = true)]
async fn stop_strings_cut_the_text_even_across_tokens() {
    let backend = mock(MockConfig::default());
    let mut req = chat("m", "alpha beta gamma delta");
    req.sampling.stop = vec!["a gam".into(), "delta".into()];
    req.sampling.max_tokens = Some(3);
    let (events, _) = run(&backend, req).await;
    assert_eq!(text_of(&events), "alpha bet");
    let (finish, usage, _) = done_of(&events);
    assert_eq!((finish, usage.completion_tokens), (FinishReason::Stop, 2));
}

#[tokio::test(start_paused = true)]
async fn delays_follow_ttft_and_token_delay() {
    let backend = mock(MockConfig {
        ttft: Duration::from_millis(200),
        token_delay: Duration::from_millis(50),
        ..MockConfig::default()
    });
    let start = Instant::now();
    let mut stream = backend
        .generate(chat("m", "a b c"), &CallContext::default())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let mut arrivals = Vec::new();
    let mut last = None;
    while let Some(item) = stream.next().await {
        arrivals.push(start.elapsed().as_millis());
        last = Some(item.unwrap());
    }
    assert_eq!(arrivals, [200, 250, 300, 300]);
    let Some(Event::Done { timings, .. }) = last else {
        panic!("no Done");
    };
    assert_eq!(timings.prompt_eval, Some(Duration::from_millis(200)));
    assert_eq!(timings.eval, Some(Duration::from_millis(150)));
    assert_eq!(timings.total, Some(Duration::from_millis(350)));
}

#[tokio::test(start_paused = true)]
async fn weather_question_with_tools_gets_a_tool_call_then_the_result_is_echoed() {
    let backend = mock(MockConfig::default());
    let tools = vec![json!({"type": "function", "function": {"name": "get_weather"}})];
    let mut messages = vec![Message::new(Role::User, "What's the weather in Paris?")];
    let req = GenerateRequest::new(
        "m",
        Prompt::Chat {
            messages: messages.clone(),
            tools: tools.clone(),
        },
    );
    let (events, _) = run(&backend, req).await;
    let Event::ToolCall(call) = &events[0] else {
        panic!("expected a tool call: {events:?}");
    };
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.arguments, json!({"city": "Paris"}));
    assert_eq!(done_of(&events).0, FinishReason::ToolCalls);

    let mut assistant = Message::new(Role::Assistant, "");
    assistant.tool_calls = vec![call.clone()];
    let mut result = Message::new(Role::Tool, "It is 21 degrees");
    result.tool_call_id = Some(call.id.clone());
    messages.extend([assistant, result]);
    let req = GenerateRequest::new("m", Prompt::Chat { messages, tools });
    let (events, _) = run(&backend, req).await;
    assert_eq!(text_of(&events), "It is 21 degrees");
    assert_eq!(done_of(&events).0, FinishReason::Stop);
}

#[tokio::test(start_paused = true)]
async fn call_naming_an_offered_tool_gets_that_call_with_the_rest_as_input() {
    let backend = mock(MockConfig::default());
    let tools = vec![json!({"type": "function", "function": {"name": "apply_patch"}})];
    let ask = |text: &str| {
        GenerateRequest::new(
            "m",
            Prompt::Chat {
                messages: vec![Message::new(Role::User, text)],
                tools: tools.clone(),
            },
        )
    };
    let (events, _) = run(
        &backend,
        ask("call apply_patch *** Begin Patch\n*** End Patch"),
    )
    .await;
    let Event::ToolCall(call) = &events[0] else {
        panic!("expected a tool call: {events:?}");
    };
    assert_eq!(call.name, "apply_patch");
    assert_eq!(
        call.arguments,
        json!({"input": "*** Begin Patch\n*** End Patch"})
    );
    assert_eq!(done_of(&events).0, FinishReason::ToolCalls);
    // A tool that is not offered is just text.
    let (events, _) = run(&backend, ask("call rm -rf")).await;
    assert_eq!(text_of(&events), "call rm -rf");
}

#[tokio::test(start_paused = true)]
async fn weather_without_tools_is_just_echoed() {
    let backend = mock(MockConfig::default());
    let (events, _) = run(&backend, chat("m", "weather in Oslo")).await;
    assert_eq!(text_of(&events), "weather in Oslo");
}

#[tokio::test(start_paused = true)]
async fn slow_models_wait_before_the_first_token() {
    let backend = mock(MockConfig::default());
    for (model, wait) in [
        ("mock-slow", SLOW_DEFAULT),
        ("mock:slow-250", Duration::from_millis(250)),
    ] {
        let start = Instant::now();
        let (events, _) = run(&backend, chat(model, "hi")).await;
        assert_eq!(start.elapsed(), wait, "{model}");
        assert_eq!(text_of(&events), "hi");
    }
}

#[tokio::test(start_paused = true)]
async fn error_and_garbage_fail_before_the_first_byte() {
    let backend = mock(MockConfig::default());
    let err = backend
        .generate(chat("mock-error", "hi"), &CallContext::default())
        .await
        .err()
        .unwrap();
    assert_eq!(
        (err.kind, err.upstream_status, err.status()),
        (ErrorKind::BackendError, Some(500), 502)
    );
    let err = backend
        .generate(chat("garbage", "hi"), &CallContext::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.message, crate::MALFORMED);
    assert_eq!(
        backend.stats(),
        MockStats {
            started: 2,
            completed: 2,
            cancelled: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn broken_sends_three_tokens_then_an_error() {
    let backend = mock(MockConfig {
        mode: MockMode::Fixed,
        ..MockConfig::default()
    });
    let (events, err) = run(&backend, chat("mock-broken", "hi")).await;
    assert_eq!(text_of(&events), "The quick brown");
    assert_eq!(events.len(), 3);
    assert_eq!(err.unwrap().kind, ErrorKind::BackendError);
    assert_eq!(backend.stats().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn hang_never_answers_and_giving_up_counts_as_cancelled() {
    let backend = mock(MockConfig::default());
    let ctx = CallContext::default();
    let call = backend.generate(chat("mock-hang", "hi"), &ctx);
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), call)
            .await
            .is_err()
    );
    assert_eq!(
        backend.stats(),
        MockStats {
            started: 1,
            completed: 0,
            cancelled: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_early_counts_as_cancelled() {
    let backend = mock(MockConfig {
        token_delay: Duration::from_millis(10),
        ..MockConfig::default()
    });
    let watcher = backend.clone();
    let waiting = tokio::spawn(async move { watcher.wait_for_stats(|s| s.cancelled == 1).await });
    let mut stream = backend
        .generate(chat("m", "one two three"), &CallContext::default())
        .await
        .unwrap();
    assert!(stream.next().await.is_some());
    assert_eq!(backend.stats().cancelled, 0);
    drop(stream);
    let stats = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stats,
        MockStats {
            started: 1,
            completed: 0,
            cancelled: 1
        }
    );
    // A stream read to its end is completed, not cancelled.
    let _ = run(&backend, chat("m", "x")).await;
    assert_eq!(backend.stats().completed, 1);
    assert_eq!(backend.stats().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn embeddings_are_deterministic_unit_vectors() {
    let backend = mock(MockConfig {
        embedding_dims: 16,
        ..MockConfig::default()
    });
    let req = |input: Vec<&str>, dimensions| EmbedRequest {
        model: "embed".into(),
        input: input.into_iter().map(str::to_owned).collect(),
        dimensions,
        truncate: true,
        keep_alive: None,
        options: serde_json::Map::new(),
    };
    let ctx = CallContext::default();
    let first = backend
        .embed(req(vec!["a b", "c", "a b"], None), &ctx)
        .await
        .unwrap();
    let again = backend.embed(req(vec!["a b"], None), &ctx).await.unwrap();
    assert_eq!(first.prompt_tokens, 5);
    assert_eq!(first.embeddings[0], first.embeddings[2]);
    assert_eq!(first.embeddings[0], again.embeddings[0]);
    assert_ne!(first.embeddings[0], first.embeddings[1]);
    for vector in &first.embeddings {
        assert_eq!(vector.len(), 16);
        let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    let sized = backend.embed(req(vec!["a"], Some(8)), &ctx).await.unwrap();
    assert_eq!(sized.embeddings[0].len(), 8);
    let mut failing = req(vec!["a"], None);
    failing.model = "embed-error".into();
    assert_eq!(
        backend
            .embed(failing, &ctx)
            .await
            .err()
            .unwrap()
            .upstream_status,
        Some(500)
    );
}

#[test]
fn fault_words_are_whole_words() {
    assert_eq!(Faults::from_model("changelog-writer"), Faults::default());
    assert_eq!(Faults::from_model("errorless"), Faults::default());
    let faults = Faults::from_model("Mock:SLOW-1500/broken");
    assert_eq!(faults.slow, Some(Duration::from_millis(1500)));
    assert!(faults.broken && !faults.hang && !faults.error && !faults.garbage);
    assert_eq!(Faults::from_model("slow").slow, Some(SLOW_DEFAULT));
    assert!(Faults::from_model("x_hang").hang);
}

proptest! {
    #[test]
    fn tokens_join_back_to_the_text(text in "\\PC{0,64}") {
        let tokens = split_tokens(&text);
        prop_assert_eq!(tokens.concat(), text);
        // Every token but a trailing-whitespace one holds exactly one word.
        for token in &tokens {
            prop_assert!(token.split_whitespace().count() <= 1);
        }
    }
}
