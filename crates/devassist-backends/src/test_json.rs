//! Property-test strategies for upstream JSON: arbitrary values built from the keys real
//! upstreams use, so generated chunks reach deep into the decoders instead of being
//! rejected at the first field.

use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "choices",
    "delta",
    "message",
    "content",
    "text",
    "reasoning",
    "reasoning_content",
    "tool_calls",
    "index",
    "id",
    "function",
    "name",
    "arguments",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "timings",
    "prompt_n",
    "prompt_ms",
    "predicted_n",
    "predicted_ms",
    "error",
    "code",
    "done",
    "done_reason",
    "response",
    "thinking",
    "context",
    "prompt_eval_count",
    "eval_count",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from(-1.0)),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "stop",
            "length",
            "tool_calls",
            "[DONE]",
            "{\"a\":",
            "{}"
        ])
        .prop_map(Value::from),
    ]
}

pub fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                let map: Map<String, Value> = pairs
                    .into_iter()
                    .map(|(k, v)| ((*k).to_owned(), v))
                    .collect();
                Value::Object(map)
            }),
        ]
    })
}
