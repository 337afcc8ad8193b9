//! Property tests: decoding untrusted request bytes never panics, whatever arrives.

use super::extract::parse;
use super::ollama::wire::{self, ChatBody, EmbedBody, GenerateBody, ShowBody};
use super::openai::wire as oai;
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_string()),
                    Just("messages".to_string()),
                    Just("prompt".to_string()),
                    Just("options".to_string()),
                    Just("keep_alive".to_string()),
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("stop".to_string()),
                    Just("tool_calls".to_string()),
                    Just("temperature".to_string()),
                    Just("num_predict".to_string()),
                    Just("input".to_string()),
                    ".{0,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn decode_everything(bytes: &[u8]) {
    if let Ok(b) = parse::<GenerateBody>(bytes) {
        let _ = wire::sampling(b.options);
        let _ = wire::keep_alive(b.keep_alive);
        let _ = wire::format(b.format);
        let _ = wire::think(b.think);
    }
    if let Ok(b) = parse::<ChatBody>(bytes) {
        let _ = super::ollama::convert_messages(b.messages.unwrap_or_default());
    }
    let _ = parse::<EmbedBody>(bytes);
    let _ = parse::<ShowBody>(bytes);
    if let Ok(b) = parse::<oai::ChatBody>(bytes) {
        let _ = oai::messages(b.messages.unwrap_or_default());
        let _ = oai::response_format(b.response_format);
        let _ = b.sampling.into_sampling();
    }
    let _ = parse::<oai::CompletionBody>(bytes);
    let _ = parse::<oai::EmbeddingsBody>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        decode_everything(v.to_string().as_bytes());
        let wrapped = serde_json::json!({"model": "m", "options": v.clone(), "keep_alive": v.clone(),
            "messages": [{"role": "user", "content": v.clone(), "tool_calls": v.clone()}]});
        decode_everything(wrapped.to_string().as_bytes());
    }
}
