//! Whatever bytes an upstream sends, the decoders never panic and a stream ends at most
//! once (one `Done` or one error, nothing after it).

use super::super::stream::{JsonDecoder, SseDecoder};
use super::fixtures::{LLAMA_SERVER_CHAT, VLLM_TOOL_CALLS};
use crate::http::pump::Decode;
use crate::test_json::arb_json;
use devassist_core::Event;
use proptest::prelude::*;

/// Feeds `chunks`, then ends the body, like the pump does; checks the ending.
fn run(mut decoder: impl Decode, chunks: &[&[u8]]) {
    let mut events = Vec::new();
    let mut failed = false;
    for chunk in chunks {
        if decoder.is_done() {
            break;
        }
        if decoder.push(chunk, &mut events).is_err() {
            failed = true;
            break;
        }
    }
    if !failed && !decoder.is_done() {
        failed = decoder.finish(&mut events).is_err();
    }
    let dones = events
        .iter()
        .filter(|e| matches!(e, Event::Done { .. }))
        .count();
    assert!(dones <= 1, "{events:?}");
    if dones == 1 {
        assert!(
            matches!(events.last(), Some(Event::Done { .. })),
            "{events:?}"
        );
        assert!(!failed);
    } else {
        assert!(
            failed,
            "a stream must end with Done or an error: {events:?}"
        );
    }
}

fn corrupt(fixture: &[&str], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes = fixture.concat().into_bytes();
    for (at, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        bytes[at] = *byte;
    }
    bytes
}

proptest! {
    #[test]
    fn sse_decoder_survives_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cut in any::<usize>(),
    ) {
        let cut = cut % (bytes.len() + 1);
        run(SseDecoder::new("h:1"), &[&bytes[..cut], &bytes[cut..]]);
        run(JsonDecoder::new(1 << 20), &[&bytes]);
    }

    #[test]
    fn sse_decoder_survives_arbitrary_chunk_json(values in prop::collection::vec(arb_json(), 1..6)) {
        let body: String = values.iter().map(|v| format!("data: {v}\n\n")).collect();
        run(SseDecoder::new("h:1"), &[body.as_bytes()]);
        let with_done = format!("{body}data: [DONE]\n\n");
        run(SseDecoder::new("h:1"), &[with_done.as_bytes()]);
        run(JsonDecoder::new(1 << 20), &[values[0].to_string().as_bytes()]);
    }

    #[test]
    fn sse_decoder_survives_corrupted_recordings(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        for fixture in [VLLM_TOOL_CALLS, LLAMA_SERVER_CHAT] {
            let bytes = corrupt(fixture, &edits);
            let cut = cut % (bytes.len() + 1);
            run(SseDecoder::new("h:1"), &[&bytes[..cut], &bytes[cut..]]);
        }
    }
}

#[test]
fn regression_huge_timings_and_call_indices_do_not_panic() {
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":18446744073709551615,\"id\":\"a\",\"function\":{\"name\":\"f\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"function\":{\"name\":\"g\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"timings\":{\"prompt_ms\":1e300,\"predicted_ms\":-5,\"prompt_n\":-1}}\n\n",
        "data: [DONE]\n\n",
    );
    let mut decoder = SseDecoder::new("h:1");
    let mut events = Vec::new();
    decoder.push(body.as_bytes(), &mut events).unwrap();
    let calls = events
        .iter()
        .filter(|e| matches!(e, Event::ToolCall(_)))
        .count();
    assert_eq!(calls, 2, "{events:?}");
    let Some(Event::Done { timings, .. }) = events.last() else {
        panic!("no Done: {events:?}");
    };
    assert_eq!((timings.prompt_eval, timings.eval), (None, None));
}
