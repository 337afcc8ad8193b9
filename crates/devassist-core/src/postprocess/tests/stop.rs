//! Stop strings, one-shot and streamed.

use crate::postprocess::{StreamStopper, cut_at_stop, find_stop};
use proptest::prelude::*;

fn stops(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_stop_completed_first_wins() {
    assert_eq!(cut_at_stop("abcdef", &stops(&["abcdef", "c"])), "ab");
    assert_eq!(cut_at_stop("xab", &stops(&["b", "ab"])), "x");
    assert_eq!(
        cut_at_stop("no stop here", &stops(&["<|fim_pad|>", ""])),
        "no stop here"
    );
    assert_eq!(find_stop("a<EOT>b<EOT>", &["<EOT>"]), Some(1));
}

#[test]
fn a_stop_split_across_chunks_is_held_back_then_cut() {
    let mut stopper = StreamStopper::new(["<|fim_middle|>", "\n\n"]);
    assert_eq!(stopper.push("return x<|fim"), "return x");
    assert_eq!(stopper.push("_mid"), "");
    assert!(!stopper.is_stopped());
    assert_eq!(stopper.push("dle|> trailing"), "");
    assert!(stopper.is_stopped());
    assert_eq!(stopper.push("more"), "");
    assert_eq!(stopper.finish(), "");
}

#[test]
fn held_back_text_that_is_no_stop_is_released() {
    let mut stopper = StreamStopper::new(["</s>"]);
    assert_eq!(stopper.push("a </"), "a ");
    assert_eq!(stopper.push("div>"), "</div>");
    assert_eq!(stopper.push("<"), "");
    assert_eq!(stopper.finish(), "<");
}

#[test]
fn multibyte_stops_and_text_are_cut_on_char_boundaries() {
    let mut stopper = StreamStopper::new(["<｜fim▁end｜>"]);
    assert_eq!(stopper.push("日本<｜fim"), "日本");
    assert_eq!(stopper.push("▁end｜>x"), "");
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<|fim".to_owned()),
        Just("_middle|>".to_owned()),
        Just("<|fim_middle|>".to_owned()),
        Just("`".to_owned()),
        Just("\n".to_owned()),
        Just("é".to_owned()),
        Just("🦀".to_owned()),
        Just("ab".to_owned()),
        "[a-c]{0,3}",
        "\\PC{0,2}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn streaming_matches_the_one_shot_cut(
        pieces in proptest::collection::vec(piece(), 0..24),
        cuts in proptest::collection::vec(0usize..8, 0..40),
        stop_set in proptest::sample::subsequence(
            vec!["<|fim_middle|>", "```", "\n\n", "abc", "c", "🦀x", "é", "b\n"], 0..5),
    ) {
        let text: String = pieces.concat();
        let stops: Vec<String> = stop_set.iter().map(|s| (*s).to_owned()).collect();
        let expected = cut_at_stop(&text, &stops);

        let mut stopper = StreamStopper::new(stops.clone());
        let mut streamed = String::new();
        let mut rest = text.as_str();
        for n in cuts {
            let at = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
            streamed.push_str(&stopper.push(&rest[..at]));
            rest = &rest[at..];
        }
        streamed.push_str(&stopper.push(rest));
        streamed.push_str(&stopper.finish());
        prop_assert_eq!(streamed.as_str(), expected);
        prop_assert_eq!(stopper.is_stopped(), find_stop(&text, &stops).is_some());
    }
}
