use super::*;

fn encoder(custom: &[&str]) -> Encoder {
    let mut echo = Map::new();
    echo.insert("tools".into(), json!([]));
    Encoder::new(
        "m".into(),
        echo,
        custom.iter().map(|s| (*s).to_owned()).collect(),
    )
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn run(enc: &mut Encoder, events: Vec<Event>) -> Vec<Value> {
    let mut out = enc.start();
    for e in events {
        out.extend(enc.event(e));
    }
    out
}

fn usage(p: u32, c: u32) -> Usage {
    Usage {
        prompt_tokens: p,
        completion_tokens: c,
    }
}

#[test]
fn a_text_answer_is_the_documented_sequence() {
    let mut enc = encoder(&[]);
    let out = run(
        &mut enc,
        vec![
            Event::Text("Hel".into()),
            Event::Text("lo".into()),
            Event::done(FinishReason::Stop, usage(5, 2)),
        ],
    );
    assert_eq!(
        types(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let seq: Vec<u64> = out
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..out.len() as u64).collect::<Vec<_>>());
    assert_eq!(out[0]["response"]["status"], "in_progress");
    assert_eq!(out[0]["response"]["usage"], Value::Null);
    assert_eq!(out[6]["text"], "Hello");
    let done = &out[9]["response"];
    assert_eq!(done["status"], "completed");
    assert!(done["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(done["object"], "response");
    assert_eq!(done["output"][0]["type"], "message");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
               "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 7})
    );
    assert_eq!(done["tools"], json!([]), "request fields are echoed");
    assert_eq!(enc.finished(), Some(done));
    // Every event of one item names the same item and index.
    let item_id = &out[2]["item"]["id"];
    for e in &out[3..8] {
        assert_eq!(&e["item_id"], item_id, "{e}");
        assert_eq!(e["output_index"], 0, "{e}");
    }
}

#[test]
fn calls_of_a_custom_tool_come_back_as_custom_tool_calls() {
    let mut enc = encoder(&["apply_patch"]);
    let out = run(
        &mut enc,
        vec![
            Event::Text("Patching.".into()),
            Event::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "apply_patch".into(),
                arguments: json!({"input": "*** Begin Patch\n*** End Patch"}),
            }),
            Event::ToolCall(ToolCall {
                id: "call_2".into(),
                name: "shell".into(),
                arguments: json!({"command": ["ls"]}),
            }),
            Event::done(FinishReason::ToolCalls, usage(1, 1)),
        ],
    );
    assert_eq!(
        types(&out)[2..],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(out[8]["item"]["type"], "custom_tool_call");
    assert_eq!(out[8]["item"]["input"], "");
    assert_eq!(out[8]["output_index"], 1);
    assert_eq!(out[9]["delta"], "*** Begin Patch\n*** End Patch");
    assert_eq!(out[10]["input"], "*** Begin Patch\n*** End Patch");
    assert_eq!(out[14]["arguments"], r#"{"command":["ls"]}"#);
    assert_eq!(out[14]["name"], "shell");
    let output = &enc.finished().unwrap()["output"];
    assert_eq!(output[1]["type"], "custom_tool_call");
    assert_eq!(output[1]["call_id"], "call_1");
    assert_eq!(output[1]["name"], "apply_patch");
    assert_eq!(output[1]["input"], "*** Begin Patch\n*** End Patch");
    assert!(output[1].get("arguments").is_none());
    assert_eq!(output[2]["type"], "function_call");
    assert_eq!(output[2]["call_id"], "call_2");
    assert_eq!(output[2]["status"], "completed");
}

#[test]
fn reasoning_text_is_its_own_item_before_the_message() {
    let mut enc = encoder(&[]);
    let out = run(
        &mut enc,
        vec![
            Event::Reasoning("hmm".into()),
            Event::Text("ok".into()),
            Event::done(FinishReason::Stop, usage(1, 2)),
        ],
    );
    assert_eq!(
        types(&out)[2..7],
        [
            "response.output_item.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
        ]
    );
    let output = &enc.finished().unwrap()["output"];
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[0]["content"][0]["text"], "hmm");
    assert_eq!(output[1]["content"][0]["text"], "ok");
}

#[test]
fn a_length_finish_is_incomplete_with_the_reason() {
    let mut enc = encoder(&[]);
    let out = run(
        &mut enc,
        vec![
            Event::Text("a b".into()),
            Event::done(FinishReason::Length, usage(5, 2)),
        ],
    );
    let last = out.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
}

#[test]
fn an_empty_answer_still_has_one_message() {
    let mut enc = encoder(&[]);
    let out = run(
        &mut enc,
        vec![
            Event::Text(String::new()),
            Event::done(FinishReason::Stop, usage(1, 0)),
        ],
    );
    assert_eq!(
        types(&out)[2..],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        enc.finished().unwrap()["output"][0]["content"][0]["text"],
        ""
    );
}

#[test]
fn a_failure_after_the_start_is_response_failed_with_the_error() {
    let mut enc = encoder(&[]);
    let mut out = run(&mut enc, vec![Event::Text("a".into())]);
    out.extend(enc.failed(&GatewayError::backend_error("upstream died")));
    let last = out.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert_eq!(last["response"]["error"]["message"], "upstream died");
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
}

#[test]
fn custom_input_takes_the_text_however_the_model_wrapped_it() {
    assert_eq!(custom_input(json!({"input": "x"})), "x");
    assert_eq!(custom_input(json!("{\"input\": \"y\"}")), "y");
    assert_eq!(custom_input(json!("raw text")), "raw text");
    assert_eq!(custom_input(json!({"patch": "z"})), "z");
    assert_eq!(custom_input(json!({"a": 1, "b": 2})), r#"{"a":1,"b":2}"#);
}
