use super::*;

fn names() -> Vec<String> {
    vec!["get_weather".to_owned(), "search".to_owned()]
}

/// Feeds `pieces` one by one; returns (content streamed during, content at the end, calls).
fn run(syntax: Syntax, pieces: &[&str]) -> (String, String, Vec<ToolCall>) {
    let mut parser = ToolCalls::new(syntax, names());
    let mut streamed = String::new();
    for piece in pieces {
        streamed.push_str(&parser.push(piece));
    }
    let (rest, calls) = parser.finish();
    (streamed, rest, calls)
}

fn weather(args: &str) -> ToolCall {
    ToolCall {
        name: "get_weather".to_owned(),
        arguments: args.to_owned(),
    }
}

#[test]
fn syntax_follows_the_template() {
    assert_eq!(Syntax::detect("{{ messages }}"), None);
    let qwen = "{% if tools %}<tools>{{ tools }}</tools> <tool_call>{\"name\": ...}</tool_call>{% endif %}";
    assert_eq!(Syntax::detect(qwen), Some(Syntax::Hermes));
    let mistral =
        "{% if tools %}[AVAILABLE_TOOLS]{{ tools }}[/AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]";
    assert_eq!(Syntax::detect(mistral), Some(Syntax::Mistral));
    let llama = "{% if tools %}<|start_header_id|>{{ tools | tojson }}{% endif %}";
    assert_eq!(Syntax::detect(llama), Some(Syntax::Json));
}

#[test]
fn plain_text_streams_through_untouched() {
    for syntax in [Syntax::Hermes, Syntax::Mistral, Syntax::Json] {
        let (streamed, rest, calls) = run(syntax, &["It is ", "sunny <b>", "today."]);
        assert_eq!(format!("{streamed}{rest}"), "It is sunny <b>today.");
        assert!(calls.is_empty());
    }
    // Only a possible marker start is held back, and released once it cannot be one.
    let mut parser = ToolCalls::new(Syntax::Hermes, names());
    assert_eq!(parser.push("a <tool"), "a ");
    assert_eq!(parser.push("s> b"), "<tools> b");
}

#[test]
fn hermes_calls_split_across_pieces() {
    let pieces = [
        "Let me check.\n<to",
        "ol_call>\n{\"name\": \"get_weather\", ",
        "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>",
        "{\"name\": \"search\", \"arguments\": {\"q\": \"rain\"}}",
    ];
    let (streamed, rest, calls) = run(Syntax::Hermes, &pieces);
    assert_eq!(streamed, "Let me check.\n");
    assert_eq!(rest.trim(), "");
    assert_eq!(
        calls,
        vec![
            weather(r#"{"city":"Paris"}"#),
            ToolCall {
                name: "search".to_owned(),
                arguments: r#"{"q":"rain"}"#.to_owned()
            }
        ]
    );
}

#[test]
fn a_block_that_does_not_parse_stays_content() {
    let text = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": </tool_call> done";
    let (streamed, rest, calls) = run(Syntax::Hermes, &[text]);
    assert!(calls.is_empty());
    assert_eq!(format!("{streamed}{rest}"), text);
}

#[test]
fn mistral_array_and_args_forms() {
    let (_, rest, calls) = run(
        Syntax::Mistral,
        &["[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]"],
    );
    assert_eq!(calls, vec![weather(r#"{"city":"Oslo"}"#)]);
    assert_eq!(rest, "");
    let (_, _, calls) = run(
        Syntax::Mistral,
        &["[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}"],
    );
    assert_eq!(calls, vec![weather(r#"{"city":"Rome"}"#)]);
}

#[test]
fn json_answers_count_only_when_they_call_an_offered_tool() {
    let (_, _, calls) = run(
        Syntax::Json,
        &[
            "<|python_tag|>",
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lima\"}}",
        ],
    );
    assert_eq!(calls, vec![weather(r#"{"city":"Lima"}"#)]);
    // Two calls separated by `;`.
    let (_, _, calls) = run(
        Syntax::Json,
        &[
            r#"{"name": "get_weather", "parameters": {"city": "A"}}; {"name": "search", "parameters": {}}"#,
        ],
    );
    assert_eq!(calls.len(), 2);
    // A JSON answer that is not a call (the user asked for JSON) is content.
    let text = r#"{"name": "Ada", "age": 36}"#;
    let (streamed, rest, calls) = run(Syntax::Json, &[text]);
    assert!(calls.is_empty());
    assert_eq!(format!("{streamed}{rest}"), text);
}

#[test]
fn arguments_given_as_a_string_are_kept() {
    let (_, _, calls) = run(
        Syntax::Hermes,
        &[r#"<tool_call>{"name": "get_weather", "arguments": "{\"city\": \"Bern\"}"}</tool_call>"#],
    );
    assert_eq!(calls, vec![weather(r#"{"city": "Bern"}"#)]);
}

#[test]
fn multibyte_text_before_a_marker_is_split_on_char_boundaries() {
    let (streamed, rest, calls) = run(
        Syntax::Hermes,
        &["é<", "tool_call>{\"name\": \"search\"}</tool_call>"],
    );
    assert_eq!(format!("{streamed}{rest}"), "é");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].arguments, "{}");
}

#[test]
fn generic_calls_are_parsed_and_text_streams() {
    let pieces = [
        " {\"tool_calls\": [{\"name\": \"get_weather\", ",
        "\"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}, ",
        "{\"name\": \"search\", \"arguments\": {}}]}",
    ];
    let (streamed, rest, calls) = run(Syntax::Generic, &pieces);
    assert_eq!(streamed, "");
    assert_eq!(rest, "");
    assert_eq!(
        calls,
        vec![
            weather(r#"{"city":"Paris","unit":"celsius"}"#),
            ToolCall {
                name: "search".to_owned(),
                arguments: "{}".to_owned()
            }
        ]
    );
    // Plain text is content as soon as its first character shows it is not a call.
    let mut parser = ToolCalls::new(Syntax::Generic, names());
    assert_eq!(parser.push("\n"), "");
    assert_eq!(parser.push("It is"), "\nIt is");
    assert_eq!(parser.push(" sunny {not a call}"), " sunny {not a call}");
    assert_eq!(parser.finish(), (String::new(), Vec::new()));
}

#[test]
fn generic_answers_that_are_not_calls_stay_content() {
    for text in [
        // Cut short by max_tokens.
        r#"{"tool_calls": [{"name": "get_weather", "arguments": {"ci"#,
        // A tool that was not offered.
        r#"{"tool_calls": [{"name": "rm_rf", "arguments": {}}]}"#,
        // Neither a call nor a reply.
        r#"{"answer": 42}"#,
        // No calls at all.
        r#"{"tool_calls": []}"#,
    ] {
        let (streamed, rest, calls) = run(Syntax::Generic, &[text]);
        assert!(calls.is_empty(), "{text}");
        assert_eq!(format!("{streamed}{rest}"), text);
    }
}

#[test]
fn a_generic_reply_is_content() {
    let (streamed, rest, calls) = run(
        Syntax::Generic,
        &["{\"response\": \"It is ", "sunny.\\nBye\"}"],
    );
    assert!(calls.is_empty());
    assert_eq!(format!("{streamed}{rest}"), "It is sunny.\nBye");
    // With a response_format the reply is that JSON, as written.
    let (_, rest, _) = run(Syntax::Generic, &[r#"{"response": {"answer": 42}}"#]);
    assert_eq!(rest, r#"{"answer":42}"#);
}
