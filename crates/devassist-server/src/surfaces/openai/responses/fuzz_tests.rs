//! Property tests: any request body decodes to a neutral request or a 400, never a panic;
//! any event stream encodes to a well-formed Responses event sequence.

use super::convert;
use super::encode::Encoder;
use super::wire::ResponsesBody;
use crate::surfaces::extract::parse;
use devassist_core::{ErrorKind, Event, FinishReason, ToolCall, Usage};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("message"),
            Just("function_call"),
            Just("function_call_output"),
            Just("custom_tool_call"),
            Just("custom_tool_call_output"),
            Just("reasoning"),
            Just("user"),
            Just("input_text"),
            Just("input_image"),
            Just("custom"),
            Just("function"),
            Just("c1"),
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
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("text".to_string()),
                    Just("call_id".to_string()),
                    Just("name".to_string()),
                    Just("arguments".to_string()),
                    Just("input".to_string()),
                    Just("output".to_string()),
                    Just("format".to_string()),
                    Just("image_url".to_string()),
                    ".{0,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every step of the handler's decoding; every refusal must be a 400.
fn decode(bytes: &[u8]) {
    let Ok(mut b) = parse::<ResponsesBody>(bytes) else {
        return;
    };
    let checks = [
        convert::refuse_state(&b).err(),
        convert::messages(b.instructions.clone(), b.input.take()).err(),
        convert::tools(b.tools.clone().unwrap_or_default(), b.tool_choice.as_ref()).err(),
        convert::text_format(b.text.as_ref().and_then(|t| t.format.clone())).err(),
        convert::check_sampling(&b, 4096).err(),
        convert::think(b.reasoning.as_ref().and_then(|r| r.effort.as_deref()), true).err(),
    ];
    for e in checks.into_iter().flatten() {
        assert_eq!(e.kind, ErrorKind::BadRequest, "{e:?}");
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        ".{0,4}".prop_map(Event::Text),
        ".{0,4}".prop_map(Event::Reasoning),
        (prop_oneof![Just("f"), Just("custom")], json_value()).prop_map(|(name, arguments)| {
            Event::ToolCall(ToolCall {
                id: String::new(),
                name: name.to_owned(),
                arguments,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_request_or_a_400(v in json_value()) {
        decode(v.to_string().as_bytes());
        let wrapped = json!({"model": "m", "input": [v.clone()], "tools": [v.clone()], "tool_choice": v.clone()});
        decode(wrapped.to_string().as_bytes());
        let items = json!({"model": "m", "input": v.clone(), "instructions": "x"});
        decode(items.to_string().as_bytes());
    }

    #[test]
    fn any_event_stream_is_a_well_formed_sequence(
        events in prop::collection::vec(event(), 0..12),
        length in any::<bool>(),
    ) {
        let mut enc = Encoder::new("m".into(), Map::new(), ["custom".to_owned()].into());
        let mut out = enc.start();
        for e in events {
            out.extend(enc.event(e));
        }
        let finish = if length { FinishReason::Length } else { FinishReason::Stop };
        out.extend(enc.event(Event::done(finish, Usage::default())));
        let seq: Vec<u64> = out.iter().filter_map(|e| e["sequence_number"].as_u64()).collect();
        prop_assert_eq!(seq, (0..out.len() as u64).collect::<Vec<_>>());
        let kinds: Vec<&str> = out.iter().filter_map(|e| e["type"].as_str()).collect();
        let added = kinds.iter().filter(|k| **k == "response.output_item.added").count();
        let done = kinds.iter().filter(|k| **k == "response.output_item.done").count();
        prop_assert_eq!(added, done);
        let last = out.last().map(|e| e["response"].clone()).unwrap_or_default();
        prop_assert_eq!(last["output"].as_array().map(Vec::len), Some(done));
        prop_assert!(done >= 1, "always at least one item");
        for item in last["output"].as_array().into_iter().flatten() {
            prop_assert!(item["type"] != "function_call" || item["name"] != "custom", "{}", item);
        }
    }
}
