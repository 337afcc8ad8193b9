use super::*;
use proptest::prelude::*;

fn parse(chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<TooLong>) {
    parse_with(SseParser::new(), chunks)
}

fn parse_with(mut parser: SseParser, chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<TooLong>) {
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = parser.push(chunk, &mut out) {
            return (out, Some(e));
        }
    }
    let err = parser.finish(&mut out).err();
    (out, err)
}

fn data(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[test]
fn openai_stream_with_done() {
    let input = b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n";
    let (events, err) = parse(&[input]);
    assert!(err.is_none());
    assert_eq!(data(&events), ["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    assert!(events[2].is_done());
    assert!(!events[0].is_done());
}

#[test]
fn crlf_and_lone_cr_line_endings() {
    let (events, _) = parse(&[b"data: a\r\n\r\ndata: b\r\rdata:c\n\n"]);
    assert_eq!(data(&events), ["a", "b", "c"]);
}

#[test]
fn crlf_split_between_chunks_is_one_line_ending() {
    let (events, _) = parse(&[b"data: a\r", b"\n", b"data: b\r", b"\n\r\n"]);
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn data_without_space_and_with_two_spaces() {
    let (events, _) = parse(&[b"data:x\n\ndata:  y\n\n"]);
    assert_eq!(data(&events), ["x", " y"]);
}

#[test]
fn comments_are_ignored() {
    let (events, _) = parse(&[b": ping\n:\ndata: a\n: in between\n\n"]);
    assert_eq!(data(&events), ["a"]);
}

#[test]
fn multi_line_data_is_joined_with_newline() {
    let (events, _) = parse(&[b"data: first\ndata: second\ndata\n\n"]);
    assert_eq!(data(&events), ["first\nsecond\n"]);
}

#[test]
fn event_and_id_fields() {
    let (events, _) = parse(&[b"event: error\nid: 7\ndata: boom\n\ndata: next\n\n"]);
    assert_eq!(events[0].event.as_deref(), Some("error"));
    assert_eq!(events[0].id.as_deref(), Some("7"));
    assert_eq!(events[1].event, None);
}

#[test]
fn final_line_without_newline_is_dispatched() {
    let (events, _) = parse(&[b"data: a\n\ndata: [DONE]"]);
    assert_eq!(data(&events), ["a", "[DONE]"]);
}

#[test]
fn utf8_split_across_chunks() {
    let text = "data: héllo ✓ 🦀\n\n".as_bytes();
    for cut in 0..text.len() {
        let (events, _) = parse(&[&text[..cut], &text[cut..]]);
        assert_eq!(data(&events), ["héllo ✓ 🦀"], "cut at {cut}");
    }
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let (events, err) = parse(&[b"data: a\xFFb\n\n"]);
    assert!(err.is_none());
    assert_eq!(data(&events), ["a\u{FFFD}b"]);
}

#[test]
fn leading_bom_is_stripped() {
    let (events, _) = parse(&[b"\xEF\xBB\xBFdata: a\n\n"]);
    assert_eq!(data(&events), ["a"]);
}

#[test]
fn blank_lines_without_data_dispatch_nothing() {
    let (events, _) = parse(&[b"\n\n\nevent: x\n\n"]);
    assert!(events.is_empty());
}

#[test]
fn overlong_line_is_an_error_after_earlier_events() {
    let parser = SseParser::with_limit(8);
    let (events, err) = parse_with(parser, &[b"data: a\n\ndata: 0123456789\n\n"]);
    assert_eq!(data(&events), ["a"]);
    assert_eq!(err, Some(TooLong { limit: 8 }));
}

#[test]
fn overlong_event_data_is_an_error() {
    let parser = SseParser::with_limit(8);
    let (_, err) = parse_with(parser, &[b"data: 12345\ndata: 12345\n\n"]);
    assert!(err.is_some());
}

fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"event: e".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b": ping".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n\n".to_vec()),
        Just("é🦀".as_bytes().to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        "[a-z{}\":, ]{0,8}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn split_at_points(input: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c %= input.len() + 1);
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&[&input]);
    }

    #[test]
    fn splitting_never_changes_the_output(
        input in prop_oneof![sse_like(), prop::collection::vec(any::<u8>(), 0..256)],
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = parse(&[&input]);
        let chunks = split_at_points(&input, cuts);
        prop_assert_eq!(parse(&chunks), whole);
    }

    #[test]
    fn splitting_never_changes_where_a_limit_trips(
        input in sse_like(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in 1usize..32,
    ) {
        let whole = parse_with(SseParser::with_limit(limit), &[&input]);
        let chunks = split_at_points(&input, cuts);
        prop_assert_eq!(parse_with(SseParser::with_limit(limit), &chunks), whole);
    }
}
