use super::*;
use proptest::prelude::*;

fn parse(chunks: &[&[u8]]) -> (Vec<String>, Option<TooLong>) {
    parse_with(NdjsonParser::new(), chunks)
}

fn parse_with(mut parser: NdjsonParser, chunks: &[&[u8]]) -> (Vec<String>, Option<TooLong>) {
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = parser.push(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    parser.finish(&mut out);
    (out, None)
}

#[test]
fn lines_split_across_chunks() {
    let (lines, _) = parse(&[b"{\"a\":", b"1}\n{\"b\"", b":2}\n"]);
    assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
}

#[test]
fn crlf_and_blank_lines() {
    let (lines, _) = parse(&[b"{\"a\":1}\r\n\r\n  \n{\"b\":2}\r", b"\n"]);
    assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
}

#[test]
fn final_line_without_newline() {
    let (lines, _) = parse(&[b"{\"a\":1}\n{\"done\":true}"]);
    assert_eq!(lines, ["{\"a\":1}", "{\"done\":true}"]);
}

#[test]
fn utf8_split_across_chunks() {
    let text = "{\"response\":\"ü🦀\"}\n".as_bytes();
    for cut in 0..text.len() {
        let (lines, _) = parse(&[&text[..cut], &text[cut..]]);
        assert_eq!(lines, ["{\"response\":\"ü🦀\"}"], "cut at {cut}");
    }
}

#[test]
fn overlong_line_is_an_error() {
    let (lines, err) = parse_with(NdjsonParser::with_limit(4), &[b"ab\nabcdef\n"]);
    assert_eq!(lines, ["ab"]);
    assert_eq!(err, Some(TooLong { limit: 4 }));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&[&input]);
    }

    #[test]
    fn splitting_never_changes_the_output(
        input in prop::collection::vec(
            prop_oneof![
                Just(b"\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just("{\"response\":\"é🦀\"}".as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..6),
            ],
            0..40,
        ).prop_map(|v| v.concat()),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in 1usize..64,
    ) {
        let whole = parse_with(NdjsonParser::with_limit(limit), &[&input]);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&input[start..cut]);
            start = cut;
        }
        chunks.push(&input[start..]);
        prop_assert_eq!(parse_with(NdjsonParser::with_limit(limit), &chunks), whole);
    }
}
