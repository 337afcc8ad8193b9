//! Generation on the real default model: greedy snapshots, streaming framing, continuous
//! batching (concurrent greedy answers equal solo ones) and prompt-prefix reuse.

mod common;

use common::{Engine, TestResult};
use serde_json::{Value as Json, json};

const CHAT_PROMPTS: [&str; 2] = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
];
const CODE_PROMPT: &str = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n";

#[tokio::test]
async fn greedy_output_snapshots() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "2"])? else {
        return Ok(());
    };
    let mut out = String::new();
    for prompt in CHAT_PROMPTS {
        let answer = engine.chat(prompt, 32).await?;
        out.push_str(&format!("chat {prompt:?}\n=> {answer:?}\n"));
    }
    let (text, json) = engine.complete(CODE_PROMPT, 32).await?;
    out.push_str(&format!("completion {CODE_PROMPT:?}\n=> {text:?}\n"));
    insta::assert_snapshot!("greedy", out);
    // Usage and timings are consistent with what was generated.
    assert_eq!(json["usage"]["completion_tokens"], 32);
    assert_eq!(json["choices"][0]["finish_reason"], "length");
    assert_eq!(json["timings"]["predicted_n"], 32);
    assert_eq!(
        json["usage"]["prompt_tokens"].as_u64(),
        Some(
            json["timings"]["prompt_n"].as_u64().unwrap_or(0)
                + json["timings"]["cache_n"].as_u64().unwrap_or(0)
        )
    );
    Ok(())
}

fn parse(frames: &[String]) -> Result<Vec<Json>, serde_json::Error> {
    frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f))
        .collect()
}

#[tokio::test]
async fn streaming_matches_non_streaming() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    // Chat: role in the first delta, finish chunk with timings, usage chunk, [DONE].
    let body = json!({
        "messages": [{"role": "user", "content": CHAT_PROMPTS[0]}],
        "temperature": 0, "max_tokens": 20, "stream": true,
        "stream_options": {"include_usage": true},
    });
    let frames = engine.stream("/v1/chat/completions", &body).await?;
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&frames)?;
    let n = chunks.len();
    assert!(n >= 4, "{frames:?}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks[1..]
            .iter()
            .all(|c| c["choices"][0]["delta"].get("role").is_none())
    );
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    let finish = &chunks[n - 2];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(finish["timings"]["predicted_n"], 20);
    let usage = &chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 20);
    let streamed: String = chunks[..n - 2]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, engine.chat(CHAT_PROMPTS[0], 20).await?);

    // Completions: text deltas, a finish chunk before [DONE], no usage chunk unless asked.
    let body = json!({"prompt": CODE_PROMPT, "temperature": 0, "max_tokens": 20, "stream": true});
    let frames = engine.stream("/v1/completions", &body).await?;
    let chunks = parse(&frames)?;
    let last = chunks.last().ok_or("no chunks")?;
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert!(last.get("usage").is_none());
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(streamed, engine.complete(CODE_PROMPT, 20).await?.0);

    // A stop string ends the answer before it, and is not sent.
    let full = engine.complete(CODE_PROMPT, 20).await?.0;
    let stop = full.trim_start().chars().take(3).collect::<String>();
    let cut = full.find(&stop).ok_or("stop not found")?;
    let body = json!({"prompt": CODE_PROMPT, "temperature": 0, "max_tokens": 20, "stop": [stop]});
    let (_, json) = engine.post("/v1/completions", &body).await?;
    assert_eq!(json["choices"][0]["text"], full[..cut]);
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    Ok(())
}

#[tokio::test]
async fn concurrent_greedy_requests_match_solo() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "4", "--batch", "64"])? else {
        return Ok(());
    };
    // Different prompt lengths and answer lengths, so sequences join and leave mid-batch.
    let long_code = CODE_PROMPT.repeat(12);
    let jobs: Vec<(String, u32)> = vec![
        (CODE_PROMPT.to_string(), 24),
        (long_code, 12),
        ("The quick brown fox".to_string(), 30),
        ("Rust is a programming language that".to_string(), 8),
    ];
    let mut solo = Vec::new();
    for (prompt, max) in &jobs {
        solo.push(engine.complete(prompt, *max).await?.0);
    }
    // A fresh engine, so no slot holds a cached prefix of these prompts.
    drop(engine);
    let Some(engine) = Engine::start(&["--parallel", "4", "--batch", "64"])? else {
        return Ok(());
    };
    let together =
        futures::future::join_all(jobs.iter().map(|(p, m)| engine.complete(p, *m))).await;
    for (i, answer) in together.into_iter().enumerate() {
        assert_eq!(answer?.0, solo[i], "request {i} differs when batched");
    }
    Ok(())
}

#[tokio::test]
async fn repeated_prefix_only_evaluates_new_tokens() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    let base = CODE_PROMPT.repeat(8);
    let extended = format!("{base}def fib2(n):");
    let (_, cold) = engine.complete(&base, 4).await?;
    let base_tokens = cold["usage"]["prompt_tokens"].as_u64().ok_or("no usage")?;
    assert_eq!(cold["timings"]["cache_n"], 0);

    let (warm_text, warm) = engine.complete(&extended, 8).await?;
    let cache_n = warm["timings"]["cache_n"].as_u64().ok_or("no timings")?;
    let prompt_n = warm["timings"]["prompt_n"].as_u64().ok_or("no timings")?;
    assert!(
        cache_n + 2 >= base_tokens,
        "reused {cache_n} of {base_tokens}"
    );
    assert!(prompt_n <= 12, "evaluated {prompt_n} tokens again");

    // Evict the cache with an unrelated prompt, then the same request cold: same answer.
    engine
        .complete("Unrelated words to replace the cache.", 2)
        .await?;
    let (cold_text, cold) = engine.complete(&extended, 8).await?;
    assert_eq!(cold["timings"]["cache_n"], 0);
    assert_eq!(warm_text, cold_text);
    Ok(())
}

/// `response_format` constrains sampling with a grammar: the answer parses, and a schema's
/// required fields are there with their types. Sampled (not greedy) on purpose: the grammar
/// must hold whatever the draw.
#[tokio::test]
async fn response_format_constrains_the_answer() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "2"])? else {
        return Ok(());
    };
    let ask = |format: Json, seed: u64| {
        json!({
            "messages": [{"role": "user", "content": "Describe a person as JSON with a name and an age."}],
            "temperature": 0.8, "seed": seed, "max_tokens": 120,
            "response_format": format,
        })
    };
    for seed in [1, 2, 3] {
        let (status, json) = engine
            .post(
                "/v1/chat/completions",
                &ask(json!({"type": "json_object"}), seed),
            )
            .await?;
        assert_eq!(status, 200, "{json}");
        let content = json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        if json["choices"][0]["finish_reason"] == "stop" {
            let value: Json = serde_json::from_str(content)
                .map_err(|e| format!("not JSON ({e}): {content:?}"))?;
            assert!(value.is_object(), "{content:?}");
        } else {
            // Cut by max_tokens: still a prefix of a JSON object.
            assert!(content.trim_start().starts_with('{'), "{content:?}");
        }
    }
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": false,
    });
    let format =
        json!({"type": "json_schema", "json_schema": {"name": "person", "schema": schema}});
    let body = ask(format, 7);
    let (status, json) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["choices"][0]["finish_reason"], "stop", "{json}");
    let content = json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    let person: Json = serde_json::from_str(content)?;
    assert!(person["name"].is_string(), "{content}");
    assert!(person["age"].is_i64(), "{content}");
    assert_eq!(person.as_object().map(|o| o.len()), Some(2), "{content}");
    // Streaming keeps to the grammar too.
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let frames = engine.stream("/v1/chat/completions", &stream_body).await?;
    let streamed: String = parse(&frames)?
        .iter()
        .filter_map(|f| {
            f["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(streamed, content, "same seed, same answer");
    Ok(())
}

#[tokio::test]
async fn bad_response_formats_are_400s() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    for format in [
        json!({"type": "yaml"}),
        json!({}),
        json!({"type": "json_schema"}),
        json!({"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}}}),
    ] {
        let body = json!({"prompt": "x", "max_tokens": 4, "response_format": format});
        let (status, json) = engine.post("/v1/completions", &body).await?;
        assert_eq!(status, 400, "{format}: {json}");
        assert_eq!(json["error"]["param"], "response_format", "{json}");
    }
    Ok(())
}

/// A template that takes tools (`--chat-template-file`, Hermes syntax) and a conversation
/// whose earlier turns show the model how to call: the real model's greedy answer is a
/// `<tool_call>` block, which comes back as structured `tool_calls`, streamed or not.
#[tokio::test]
async fn tool_calls_come_back_structured() -> TestResult {
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/engine/hermes-tools.jinja"
    );
    let Some(engine) = Engine::start(&["--parallel", "1", "--chat-template-file", template])?
    else {
        return Ok(());
    };
    let call = |city: &str, i: usize| {
        json!({"role": "assistant", "content": "", "tool_calls": [{
            "id": format!("call_{i}"), "type": "function",
            "function": {"name": "get_weather", "arguments": json!({"city": city}).to_string()},
        }]})
    };
    let mut messages = Vec::new();
    for (i, city) in ["Paris", "Rome", "Madrid"].into_iter().enumerate() {
        messages
            .push(json!({"role": "user", "content": format!("What is the weather in {city}?")}));
        messages.push(call(city, i));
    }
    messages.push(json!({"role": "user", "content": "What is the weather in Berlin?"}));
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }}]);
    let body = json!({"messages": messages, "tools": tools, "temperature": 0, "max_tokens": 60});
    let (status, json) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{json}");
    let choice = &json["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{json}");
    assert!(choice["message"]["content"].is_null(), "{json}");
    let function = &choice["message"]["tool_calls"][0]["function"];
    assert_eq!(function["name"], "get_weather");
    let arguments: Json = serde_json::from_str(function["arguments"].as_str().unwrap_or(""))?;
    assert_eq!(arguments, json!({"city": "Berlin"}));

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let frames = parse(&engine.stream("/v1/chat/completions", &streamed).await?)?;
    let calls: Vec<&Json> = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls.len(), 1, "{frames:?}");
    assert_eq!(calls[0][0]["function"], *function);
    assert_eq!(
        frames.last().map(|f| &f["choices"][0]["finish_reason"]),
        Some(&json!("tool_calls"))
    );
    // Without tools the same answer is plain text, marker and all.
    let mut plain = body.clone();
    plain.as_object_mut().map(|o| o.remove("tools"));
    let (_, json) = engine.post("/v1/chat/completions", &plain).await?;
    let content = json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    assert!(content.starts_with("<tool_call>"), "{json}");
    Ok(())
}
