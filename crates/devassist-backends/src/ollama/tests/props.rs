//! Whatever bytes an upstream sends, the NDJSON decoder never panics and a stream ends at
//! most once (one `Done` or one error, nothing after it).

use super::super::stream::NdjsonDecoder;
use super::fixtures::CHAT_THINKING_TOOLS;
use crate::http::pump::Decode;
use crate::test_json::arb_json;
use devassist_core::Event;
use proptest::prelude::*;

fn run(chunks: &[&[u8]]) {
    let mut decoder = NdjsonDecoder::new("h:1");
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
    } else {
        assert!(
            failed,
            "a stream must end with Done or an error: {events:?}"
        );
    }
}

proptest! {
    #[test]
    fn survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), cut in any::<usize>()) {
        let cut = cut % (bytes.len() + 1);
        run(&[&bytes[..cut], &bytes[cut..]]);
    }

    #[test]
    fn survives_arbitrary_lines(values in prop::collection::vec(arb_json(), 1..6)) {
        let body: String = values.iter().map(|v| format!("{v}\n")).collect();
        run(&[body.as_bytes()]);
    }

    #[test]
    fn survives_corrupted_recordings(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut bytes = CHAT_THINKING_TOOLS.concat().into_bytes();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        let cut = cut % (bytes.len() + 1);
        run(&[&bytes[..cut], &bytes[cut..]]);
    }
}
