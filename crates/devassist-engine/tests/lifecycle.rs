//! The engine as a process and a server: readiness, errors in the OpenAI envelope, context
//! limits, cancellation on disconnect, embeddings, and clear failures on bad model files.

mod common;

use common::{Engine, TestResult, model_path, run_binary};
use http_body_util::BodyExt;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn endpoints_and_error_envelopes() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "2", "--alias", "smol"])? else {
        return Ok(());
    };
    let (status, health) = engine.get("/health").await?;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["slots_idle"], 2);

    let (_, models) = engine.get("/v1/models").await?;
    assert_eq!(models["data"][0]["id"], "smol");
    assert_eq!(engine.get("/v1/models/smol").await?.0, 200);
    let (status, missing) = engine.get("/v1/models/other").await?;
    assert_eq!(
        (status, missing["error"]["type"].as_str()),
        (404, Some("not_found_error"))
    );

    let (_, tokens) = engine
        .post("/tokenize", &json!({"content": "Hello world"}))
        .await?;
    let ids = tokens["tokens"].as_array().ok_or("no tokens")?.clone();
    assert!(!ids.is_empty());
    let (_, text) = engine.post("/detokenize", &json!({"tokens": ids})).await?;
    assert_eq!(text["content"], "Hello world");

    // SmolLM2 has no FIM tokens: a suffix is Ollama's 400; an empty suffix is no FIM.
    let fim = json!({"prompt": "def f(", "suffix": "\n", "max_tokens": 4});
    let (status, err) = engine.post("/v1/completions", &fim).await?;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["message"], "smol does not support insert");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let no_fim = json!({"prompt": "def f(", "suffix": "", "max_tokens": 2, "temperature": 0});
    assert_eq!(engine.post("/v1/completions", &no_fim).await?.0, 200);

    // Malformed bodies and bad fields are 400s in the same envelope.
    let (status, body) = engine
        .post_raw("/v1/chat/completions", "application/json", "{not json")
        .await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, err) = engine
        .post("/v1/chat/completions", &json!({"messages": []}))
        .await?;
    assert_eq!(
        (status, err["error"]["message"].as_str()),
        (400, Some("[] is too short - 'messages'"))
    );
    let bad_top_p = json!({"messages": [{"role": "user", "content": "x"}], "top_p": 3});
    assert_eq!(
        engine.post("/v1/chat/completions", &bad_top_p).await?.0,
        400
    );
    let (status, _) = engine
        .post("/v1/embeddings", &json!({"input": "x"}))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(engine.get("/no/such/route").await?.0, 404);
    Ok(())
}

#[tokio::test]
async fn prompt_longer_than_context_is_a_clear_400() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1", "--ctx", "64"])? else {
        return Ok(());
    };
    let long = "one two three four five six seven eight nine ten ".repeat(20);
    let (status, err) = engine
        .post("/v1/completions", &json!({"prompt": long, "max_tokens": 4}))
        .await?;
    assert_eq!(status, 400);
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("context holds 64 tokens"), "{message}");

    let truncated = json!({"prompt": long, "max_tokens": 4, "temperature": 0, "truncate": true});
    let (status, ok) = engine.post("/v1/completions", &truncated).await?;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["usage"]["prompt_tokens"], 60);

    // A prompt that fits but leaves little room stops at the end of the context.
    let fits = "one two three four five six seven eight nine ten ".repeat(5);
    let body = json!({"prompt": fits, "max_tokens": 500, "temperature": 0, "ignore_eos": true});
    let (status, ok) = engine.post("/v1/completions", &body).await?;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["choices"][0]["finish_reason"], "length");
    let total = ok["usage"]["total_tokens"].as_u64().unwrap_or(0);
    assert!(total <= 65, "{ok}");
    // And the engine is still serving.
    assert_eq!(engine.get("/health").await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn disconnect_frees_the_slot() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    // Far more tokens than could be generated during the test.
    let body = json!({
        "prompt": "Once upon a time", "max_tokens": 100000, "ignore_eos": true,
        "temperature": 0, "stream": true,
    });
    let mut bytes = engine.open("/v1/completions", &body).await?;
    let first = bytes.frame().await.ok_or("no first chunk")??;
    let first = first.into_data().map_err(|_| "not data")?;
    assert!(first.starts_with(b"data: "));
    let (_, slots) = engine.get("/slots").await?;
    assert_ne!(slots["slots"][0]["state"], "idle", "{slots}");
    drop(bytes);

    let gone = Instant::now();
    loop {
        let (_, slots) = engine.get("/slots").await?;
        if slots["slots"][0]["state"] == "idle" {
            break;
        }
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "slot still busy: {slots}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // With one slot, a new request only runs if the old one really stopped.
    let (_, slots) = engine.get("/slots").await?;
    let generated = slots["slots"][0]["n_cached"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, later) = engine.get("/slots").await?;
    assert_eq!(
        later["slots"][0]["n_cached"].as_u64(),
        Some(generated),
        "still generating"
    );
    let answer = engine.complete("The sky is", 4).await?;
    assert_eq!(answer.1["usage"]["completion_tokens"], 4);
    Ok(())
}

/// SIGTERM while a generation streams: the engine stops accepting, gives the request its grace
/// period, ends it (the stream closes with an error event), frees the llama.cpp context and
/// joins the engine thread before exiting, with status 0. (On CUDA the context used to be freed
/// on the engine thread while the process exited: `CUDA error: driver shutting down`, SIGABRT.)
#[tokio::test]
async fn sigterm_mid_generation_exits_cleanly() -> TestResult {
    use std::os::unix::process::ExitStatusExt;
    let Some(mut engine) = Engine::start(&["--parallel", "2"])? else {
        return Ok(());
    };
    // Longer than the 5 s grace at any speed this machine has: the context (4,096) ends it.
    let body = json!({
        "prompt": "Once upon a time", "max_tokens": 100000, "ignore_eos": true,
        "temperature": 0, "stream": true,
    });
    let mut bytes = engine.open("/v1/completions", &body).await?;
    let first = bytes.frame().await.ok_or("no first chunk")??;
    let first = first.into_data().map_err(|_| "not data")?;
    assert!(first.starts_with(b"data: "));
    let signalled = Instant::now();
    engine.terminate()?;

    let mut rest = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(frame)) = bytes.frame().await {
            if let Ok(data) = frame.into_data() {
                rest.extend_from_slice(&data);
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stream did not end after SIGTERM");
    let rest = String::from_utf8_lossy(&rest);
    let last = rest.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(
        last.contains("the engine is shutting down") || last == "data: [DONE]",
        "the stream ended without a last event: {last:?}"
    );
    let status = engine
        .wait_exit(Duration::from_secs(30))?
        .ok_or("the engine did not exit after SIGTERM")?;
    assert_eq!(status.signal(), None, "killed by a signal: {status}");
    assert_eq!(status.code(), Some(0), "{status}");
    // The grace period was given, and not much more.
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");
    Ok(())
}

/// SIGTERM when idle exits at once, with status 0.
#[tokio::test]
async fn sigterm_when_idle_exits_at_once() -> TestResult {
    let Some(mut engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    assert_eq!(
        engine.complete("The sky is", 2).await?.1["usage"]["completion_tokens"],
        2
    );
    let signalled = Instant::now();
    engine.terminate()?;
    let status = engine
        .wait_exit(Duration::from_secs(10))?
        .ok_or("the engine did not exit after SIGTERM")?;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "{:?}",
        signalled.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn embeddings_are_normalised_vectors() -> TestResult {
    let Some(engine) = Engine::start(&["--embeddings", "--parallel", "1", "--ctx", "512"])? else {
        return Ok(());
    };
    let (status, out) = engine
        .post(
            "/v1/embeddings",
            &json!({"input": ["hello world", "fn main() {}"]}),
        )
        .await?;
    assert_eq!(status, 200, "{out}");
    let data = out["data"].as_array().ok_or("no data")?;
    assert_eq!(data.len(), 2);
    let v: Vec<f64> = data[0]["embedding"]
        .as_array()
        .ok_or("no embedding")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    assert_eq!(v.len(), 576);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(data[1]["index"], 1);

    let (_, b64) = engine
        .post(
            "/v1/embeddings",
            &json!({"input": "hello world", "encoding_format": "base64"}),
        )
        .await?;
    assert!(b64["data"][0]["embedding"].is_string());
    let (status, _) = engine
        .post(
            "/v1/embeddings",
            &json!({"input": "x", "encoding_format": "hex"}),
        )
        .await?;
    assert_eq!(status, 400);
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(engine.post("/v1/chat/completions", &chat).await?.0, 400);
    Ok(())
}

#[test]
fn bad_model_files_fail_clearly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.gguf");
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "this is not a model")?;
    // A well-formed GGUF file that llama.cpp cannot load (an architecture it does not know).
    let alien = dir.path().join("alien.gguf");
    let key = "general.architecture";
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes()); // tensors
    bytes.extend(1u64.to_le_bytes()); // metadata entries
    bytes.extend((key.len() as u64).to_le_bytes());
    bytes.extend(key.as_bytes());
    bytes.extend(8u32.to_le_bytes()); // a string value
    bytes.extend(11u64.to_le_bytes());
    bytes.extend(b"nonexistent");
    std::fs::write(&alien, bytes)?;
    let mut cases = vec![
        (missing, "No such file"),
        (text, "not a GGUF file"),
        (alien, "llama.cpp cannot load this model"),
    ];
    if let Some(model) = model_path() {
        let bytes = std::fs::read(&model)?;
        let truncated = dir.path().join("truncated.gguf");
        std::fs::write(&truncated, &bytes[..bytes.len() / 3])?;
        cases.push((truncated, "truncated GGUF file"));
    }
    for (path, expected) in cases {
        let path_str = path.to_string_lossy().into_owned();
        let (code, stdout, stderr) =
            run_binary(&["--model", &path_str, "--listen", "127.0.0.1:0"])?;
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stdout.is_empty(), "no readiness line expected: {stdout}");
        assert!(
            stderr.contains(&path_str) && stderr.contains(expected),
            "{stderr}"
        );
    }
    Ok(())
}

/// A chat template file that is missing or does not compile stops the engine with a message
/// naming the file, before it announces readiness.
#[test]
fn bad_chat_template_files_are_named() -> TestResult {
    let Some(model) = model_path() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let broken = dir.path().join("broken.jinja");
    std::fs::write(&broken, "{% for m in messages %}{{ m.content }")?;
    let missing = dir.path().join("missing.jinja");
    for (file, expected) in [
        (&missing, "cannot read the chat template"),
        (&broken, "the chat template does not compile"),
    ] {
        let file = file.display().to_string();
        let (code, stdout, stderr) = run_binary(&[
            "--model",
            &model.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--chat-template-file",
            &file,
        ])?;
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stdout.is_empty(), "no readiness line expected: {stdout}");
        assert!(
            stderr.contains(&file) && stderr.contains(expected),
            "{stderr}"
        );
    }
    Ok(())
}
