//! Tool calls on the real default model, whose own chat template takes no tools: the generic
//! format (tools in the system prompt, a grammar on the answer) gives structured calls whose
//! arguments match the tool's JSON schema, text when no call is wanted, and follows
//! `tool_choice` and `parallel_tool_calls`.

mod common;

use common::{Engine, TestResult};
use serde_json::{Value as Json, json};

fn weather_tool() -> Json {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "unit"]
        }
    }})
}

/// A tool with every common kind of argument, for the sampled (not greedy) runs.
fn booking_tool() -> Json {
    json!({"type": "function", "function": {
        "name": "book_table",
        "description": "Book a table at a restaurant",
        "parameters": {
            "type": "object",
            "properties": {
                "restaurant": {"type": "string", "maxLength": 30},
                "guests": {"type": "integer", "minimum": 1, "maximum": 12},
                "budget": {"type": "number"},
                "outdoor": {"type": "boolean"},
                "time": {"type": "object", "properties": {
                    "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                    "minute": {"type": "integer", "minimum": 0, "maximum": 59}
                }, "required": ["hour"]},
                "diet": {"type": "array", "items": {"enum": ["vegan", "halal", "kosher"]}, "maxItems": 3},
                "note": {"type": "string", "maxLength": 40}
            },
            "required": ["restaurant", "guests", "time"]
        }
    }})
}

/// A small JSON-schema check for what the tools above use: types, `enum`, `properties`,
/// `required`, no other properties, `items`, `minimum`/`maximum`, lengths and item counts.
fn validate(schema: &Json, value: &Json, at: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{at}: {what} (value {value})"));
    if let Some(options) = schema.get("enum").and_then(Json::as_array)
        && !options.contains(value)
    {
        return fail("not one of the enum's values");
    }
    match schema.get("type").and_then(Json::as_str) {
        Some("string") => {
            let Some(s) = value.as_str() else {
                return fail("not a string");
            };
            if let Some(max) = schema.get("maxLength").and_then(Json::as_u64)
                && s.chars().count() as u64 > max
            {
                return fail("too long");
            }
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => return fail("not an integer"),
        Some("number") if !value.is_number() => return fail("not a number"),
        Some("boolean") if !value.is_boolean() => return fail("not a boolean"),
        Some("object") => {
            let Some(object) = value.as_object() else {
                return fail("not an object");
            };
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap_or_default()) {
                    return fail(&format!("{required} is missing"));
                }
            }
            for (key, item) in object {
                let Some(sub) = properties.get(key) else {
                    return fail(&format!("{key} is not a property"));
                };
                validate(sub, item, &format!("{at}.{key}"))?;
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return fail("not an array");
            };
            if let Some(max) = schema.get("maxItems").and_then(Json::as_u64)
                && items.len() as u64 > max
            {
                return fail("too many items");
            }
            for (i, item) in items.iter().enumerate() {
                validate(&schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    if let Some(n) = value.as_f64() {
        let below = schema
            .get("minimum")
            .and_then(Json::as_f64)
            .is_some_and(|m| n < m);
        let above = schema
            .get("maximum")
            .and_then(Json::as_f64)
            .is_some_and(|m| n > m);
        if below || above {
            return fail("out of range");
        }
    }
    Ok(())
}

/// The calls of a non-streaming answer, each as (name, arguments) with the arguments checked
/// against the offered tool's schema.
fn checked_calls(answer: &Json, tools: &[Json]) -> Result<Vec<(String, Json)>, String> {
    let calls = answer["choices"][0]["message"]["tool_calls"]
        .as_array()
        .ok_or_else(|| format!("no tool_calls: {answer}"))?;
    calls
        .iter()
        .map(|call| {
            let name = call["function"]["name"].as_str().unwrap_or_default();
            let tool = tools
                .iter()
                .find(|t| t["function"]["name"] == name)
                .ok_or_else(|| format!("{name} was not offered"))?;
            let raw = call["function"]["arguments"].as_str().unwrap_or_default();
            let arguments: Json =
                serde_json::from_str(raw).map_err(|e| format!("arguments {raw:?}: {e}"))?;
            validate(&tool["function"]["parameters"], &arguments, name)?;
            Ok((name.to_owned(), arguments))
        })
        .collect()
}

fn content(answer: &Json) -> &str {
    answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

const WEATHER_QUESTION: &str = "What is the weather in Paris right now, in celsius?";

#[tokio::test]
async fn a_question_that_needs_a_tool_gets_a_valid_call() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    let tools = [weather_tool()];
    let body = json!({
        "messages": [{"role": "user", "content": WEATHER_QUESTION}],
        "tools": tools, "temperature": 0, "max_tokens": 80,
    });
    let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["finish_reason"], "tool_calls",
        "{answer}"
    );
    assert!(
        answer["choices"][0]["message"]["content"].is_null(),
        "{answer}"
    );
    let calls = checked_calls(&answer, &tools)?;
    assert_eq!(calls.len(), 1, "{answer}");
    assert_eq!(calls[0].0, "get_weather");

    // Streamed: the same call, as one tool_calls delta before the finish chunk.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let frames = engine.stream("/v1/chat/completions", &streamed).await?;
    let frames: Vec<Json> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f))
        .collect::<Result<_, _>>()?;
    let deltas: Vec<&Json> = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(deltas.len(), 1, "{frames:?}");
    assert_eq!(
        deltas[0][0]["function"],
        answer["choices"][0]["message"]["tool_calls"][0]["function"]
    );
    assert_eq!(
        frames.last().map(|f| &f["choices"][0]["finish_reason"]),
        Some(&json!("tool_calls"))
    );
    let text: String = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "", "no part of the call leaks as content");
    Ok(())
}

#[tokio::test]
async fn no_call_when_none_is_wanted_or_needed() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    let tools = [weather_tool()];
    // tool_choice "none": the tools are not shown and the answer is text.
    let body = json!({
        "messages": [{"role": "user", "content": WEATHER_QUESTION}],
        "tools": tools, "tool_choice": "none", "temperature": 0, "max_tokens": 40,
    });
    let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["choices"][0]["message"].get("tool_calls").is_none(),
        "{answer}"
    );
    assert!(!content(&answer).trim().is_empty(), "{answer}");
    // Exactly the answer without tools.
    let mut bare = body.clone();
    if let Some(o) = bare.as_object_mut() {
        o.remove("tools");
        o.remove("tool_choice");
    }
    let (_, without) = engine.post("/v1/chat/completions", &bare).await?;
    assert_eq!(content(&answer), content(&without));

    // With `auto` the answer is a call or a reply, never the reply's JSON wrapping. Which one
    // is the tiny model's judgement, not the format's, so either is accepted here.
    let body = json!({
        "messages": [{"role": "user", "content": "Hi! Tell me a joke."}],
        "tools": tools, "temperature": 0, "max_tokens": 60,
    });
    let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");
    if answer["choices"][0]["finish_reason"] == "tool_calls" {
        checked_calls(&answer, &tools)?;
    } else {
        assert!(!content(&answer).trim().is_empty(), "{answer}");
        assert!(!content(&answer).contains("\"response\""), "{answer}");
    }
    Ok(())
}

#[tokio::test]
async fn a_forced_call_keeps_to_the_schema_whatever_the_draw() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "2"])? else {
        return Ok(());
    };
    let tools = [weather_tool(), booking_tool()];
    for (seed, choice) in [
        (1, json!("required")),
        (2, json!("required")),
        (
            3,
            json!({"type": "function", "function": {"name": "book_table"}}),
        ),
        (
            4,
            json!({"type": "function", "function": {"name": "book_table"}}),
        ),
        (
            5,
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ] {
        let body = json!({
            "messages": [{"role": "user", "content": "Book a table for four tomorrow at 8pm, we are vegan."}],
            "tools": tools, "tool_choice": choice, "parallel_tool_calls": false,
            "temperature": 0.9, "seed": seed, "max_tokens": 200,
        });
        let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["choices"][0]["finish_reason"], "tool_calls",
            "{answer}"
        );
        let calls = checked_calls(&answer, &tools)?;
        assert_eq!(calls.len(), 1, "parallel_tool_calls false: {answer}");
        if let Some(name) = choice.pointer("/function/name") {
            assert_eq!(calls[0].0, *name, "{answer}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn earlier_tool_turns_render_and_bad_choices_are_400s() -> TestResult {
    let Some(engine) = Engine::start(&["--parallel", "1"])? else {
        return Ok(());
    };
    let tools = [weather_tool()];
    let messages = json!([
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": WEATHER_QUESTION},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"sky\": \"sunny\"}"},
    ]);
    let body = json!({"messages": messages, "tools": tools, "temperature": 0, "max_tokens": 40});
    let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 200, "{answer}");
    let finish = &answer["choices"][0]["finish_reason"];
    assert!(
        finish == "stop" || finish == "length" || finish == "tool_calls",
        "{answer}"
    );
    if finish == "tool_calls" {
        checked_calls(&answer, &tools)?;
    }
    // The same history without tools offered renders too.
    let (status, answer) = engine
        .post(
            "/v1/chat/completions",
            &json!({"messages": messages, "temperature": 0, "max_tokens": 8}),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");

    for choice in [
        json!("sometimes"),
        json!({"type": "function", "function": {"name": "not_offered"}}),
    ] {
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tools": tools,
                          "tool_choice": choice, "max_tokens": 4});
        let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 400, "{choice}: {answer}");
        assert_eq!(answer["error"]["param"], "tool_choice", "{answer}");
    }
    let body = json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required",
                      "max_tokens": 4});
    let (status, answer) = engine.post("/v1/chat/completions", &body).await?;
    assert_eq!(status, 400, "{answer}");
    Ok(())
}
