//! The batching switches on the real default model: slot packing keeps the generating slots on
//! consecutive sequence ids (moving a cached prefix next to the run when it is worth it) without
//! changing any answer, and the sampling fast path picks the tokens llama.cpp's sampler picks.

mod common;

use common::{Engine, TestResult};
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

/// Prompts with nothing in common at the start, each well over the 32 tokens a cache copy must
/// save.
fn prompts() -> Vec<String> {
    ["apples", "rivers", "engines", "violins"]
        .iter()
        .map(|topic| {
            format!(
                "{topic}: here is a long and careful description of {topic}, written for a \
                 reader who has never heard of {topic} before and wants to know everything \
                 about where {topic} come from, what {topic} are made of and why {topic} matter."
            )
        })
        .collect()
}

fn body(prompt: &str, max_tokens: u32) -> Json {
    json!({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": true})
}

/// Ids of the slots that are generating now.
async fn generating(engine: &Engine) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
    let (_, slots) = engine.get("/slots").await?;
    Ok(slots["slots"]
        .as_array()
        .ok_or("no slots")?
        .iter()
        .filter(|s| s["state"] != "idle")
        .filter_map(|s| s["id"].as_u64())
        .collect())
}

/// Fill the four slots' caches with the four prompts (one request at a time), then ask for the
/// prompts cached in slots 0 and 3 together, and report which slots generated them and how
/// many prompt tokens each reused.
async fn run_far_apart(
    extra: &[&str],
) -> Result<Option<(Vec<u64>, Vec<Json>)>, Box<dyn std::error::Error>> {
    let mut args = vec!["--parallel", "4"];
    args.extend_from_slice(extra);
    let Some(engine) = Engine::start(&args)? else {
        return Ok(None);
    };
    let prompts = prompts();
    for p in &prompts {
        engine.post("/v1/completions", &body(p, 1)).await?;
    }
    // `/slots` is published after each step, just after the answers went out.
    let slots = loop {
        let (_, slots) = engine.get("/slots").await?;
        if slots["slots"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["state"] == "idle"))
        {
            break slots;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let cached: Vec<u64> = (0..4)
        .map(|i| slots["slots"][i]["n_cached"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        cached.iter().all(|&n| n > 32),
        "every slot holds a prompt: {slots}"
    );
    // Least recently used first: the first prompt went to slot 3, the last to slot 0.
    let (a, b) = (&prompts[0], &prompts[3]);
    let (body_a, body_b) = (body(a, 48), body(b, 48));
    let both = futures::future::join(
        engine.post("/v1/completions", &body_a),
        engine.post("/v1/completions", &body_b),
    );
    tokio::pin!(both);
    let mut seen = Vec::new();
    let start = Instant::now();
    let answers = loop {
        tokio::select! {
            (x, y) = &mut both => break vec![x?.1, y?.1],
            () = tokio::time::sleep(Duration::from_millis(15)) => {
                let now = generating(&engine).await?;
                if now.len() == 2 {
                    seen = now;
                }
            }
        }
        assert!(start.elapsed() < Duration::from_secs(600), "too slow");
    };
    Ok(Some((seen, answers)))
}

#[tokio::test]
async fn packing_keeps_generating_slots_consecutive() -> TestResult {
    let Some((packed, answers)) = run_far_apart(&[]).await? else {
        return Ok(());
    };
    assert_eq!(packed.len(), 2, "never saw both generating");
    assert_eq!(packed[1], packed[0] + 1, "generating slots {packed:?}");
    // The prompt whose cache sat far away was copied next to the other: still reused.
    for answer in &answers {
        let prompt = answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
        assert!(
            answer["timings"]["cache_n"].as_u64().unwrap_or(0) + 1 >= prompt,
            "prefix not reused: {answer}"
        );
    }
    // Without packing the same requests run on slots 0 and 3, with the same answers.
    let Some((spread, unpacked)) = run_far_apart(&["--slot-packing", "false"]).await? else {
        return Ok(());
    };
    assert_eq!(spread, vec![0, 3]);
    for (a, b) in answers.iter().zip(&unpacked) {
        assert_eq!(a["choices"][0]["text"], b["choices"][0]["text"]);
    }
    Ok(())
}

/// Requests that join and leave at different times, so running requests are moved into the
/// gaps: every answer equals the one it gets alone.
#[tokio::test]
async fn moved_requests_answer_as_if_alone() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "4", "--batch", "32"])? else {
        return Ok(());
    };
    let prompts = prompts();
    let lengths = [40, 10, 60, 25];
    let mut solo = Vec::new();
    for (p, n) in prompts.iter().zip(lengths) {
        solo.push(engine.complete(p, n).await?.0);
    }
    drop(engine);
    let Some(engine) = Engine::start(&["--parallel", "4", "--batch", "32"])? else {
        return Ok(());
    };
    // Twice: the second round starts with every slot holding a cache.
    for round in 0..2 {
        let together = futures::future::join_all(
            prompts
                .iter()
                .zip(lengths)
                .map(|(p, n)| engine.complete(p, n)),
        )
        .await;
        for (i, answer) in together.into_iter().enumerate() {
            assert_eq!(answer?.0, solo[i], "round {round}: request {i} differs");
        }
    }
    Ok(())
}

/// The fast sampling paths (argmax for greedy, top-k straight from the logits) give the tokens
/// llama.cpp's sampler gives: greedy with and without `ignore_eos`, and seeded sampling.
#[tokio::test]
async fn fast_sampling_matches_llama_cpp_sampler() -> TestResult {
    let requests = [
        json!({"prompt": "The capital of France is", "max_tokens": 24, "temperature": 0}),
        json!({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0, "ignore_eos": true}),
        json!({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0.9, "seed": 7}),
        json!({"prompt": "def add(a, b):", "max_tokens": 24, "temperature": 0.7, "top_k": 5,
               "top_p": 0.9, "min_p": 0.1, "seed": 11}),
    ];
    let mut answers: Vec<Vec<Json>> = Vec::new();
    for fast in ["true", "false"] {
        let Some(engine) = Engine::start(&["--parallel", "1", "--fast-sampling", fast])? else {
            return Ok(());
        };
        let mut texts = Vec::new();
        for r in &requests {
            let (status, json) = engine.post("/v1/completions", r).await?;
            assert_eq!(status, 200, "{json}");
            texts.push(json["choices"][0]["text"].clone());
        }
        answers.push(texts);
    }
    assert_eq!(answers[0], answers[1]);
    // Sampling really sampled: not the greedy answer.
    assert_ne!(answers[0][2], answers[0][1]);
    Ok(())
}
