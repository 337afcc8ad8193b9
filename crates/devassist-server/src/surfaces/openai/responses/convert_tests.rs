use super::*;
use crate::surfaces::extract::parse;
use devassist_core::ErrorKind;

fn body(v: Value) -> ResponsesBody {
    parse(v.to_string().as_bytes()).expect("valid body")
}

fn refused(r: Result<impl std::fmt::Debug, GatewayError>) -> (String, Option<String>) {
    let e = r.expect_err("a 400");
    assert_eq!(e.kind, ErrorKind::BadRequest, "{e:?}");
    (e.message, e.param)
}

#[test]
fn a_string_input_is_one_user_message_after_the_instructions() {
    let m = messages(Some("Be brief.".into()), Some(json!("hi"))).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].role, m[0].content.as_str()),
        (Role::System, "Be brief.")
    );
    assert_eq!((m[1].role, m[1].content.as_str()), (Role::User, "hi"));
}

#[test]
fn items_become_chat_messages_with_calls_and_results() {
    let input = json!([
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}], "encrypted_content": "gAAA"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "Done!"}]},
    ]);
    let m = messages(None, Some(input)).unwrap();
    let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool
        ],
        "reasoning dropped, calls joined to the assistant's text: {m:?}"
    );
    assert_eq!(m[1].content, "a\nb");
    assert_eq!(m[2].content, "Looking.");
    assert_eq!(m[2].tool_calls.len(), 2);
    assert_eq!(m[2].tool_calls[0].arguments, json!({"command": ["ls"]}));
    assert_eq!(
        m[2].tool_calls[1].arguments,
        json!({"input": "*** Begin Patch"})
    );
    assert_eq!(m[3].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(m[3].tool_name.as_deref(), Some("shell"));
    assert_eq!(m[4].content, "Done!");
    assert_eq!(m[4].tool_name.as_deref(), Some("apply_patch"));
}

#[test]
fn an_output_for_an_unknown_call_is_a_400_naming_the_item() {
    let input = json!([
        {"role": "user", "content": "hi"},
        {"type": "function_call_output", "call_id": "nope", "output": "x"},
    ]);
    let (message, param) = refused(messages(None, Some(input)));
    assert!(message.contains("No tool call found"), "{message}");
    assert!(message.contains("`nope`"), "{message}");
    assert_eq!(param.as_deref(), Some("input[1].call_id"));
}

#[test]
fn bad_items_are_400s_naming_them() {
    for (item, want_param, want_words) in [
        (
            json!({"type": "bogus"}),
            "input[0].type",
            "unknown input item type `bogus`",
        ),
        (json!({"type": 7}), "input[0].type", "must be a string"),
        (json!("hi"), "input[0]", "must be an object"),
        (
            json!({"type": "item_reference", "id": "msg_1"}),
            "input[0].type",
            "stores no items",
        ),
        (
            json!({"type": "web_search_call", "id": "ws_1"}),
            "input[0].type",
            "runs no hosted tools",
        ),
        (
            json!({"type": "message", "role": "robot", "content": "x"}),
            "input[0].role",
            "invalid role `robot`",
        ),
        (
            json!({"type": "message", "role": "user"}),
            "input[0]",
            "missing field `content`",
        ),
        (
            json!({"type": "message", "role": "user", "content": [{"type": "input_video"}]}),
            "input[0].content[0]",
            "unknown variant `input_video`",
        ),
        (
            json!({"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}),
            "input[0].content[0].image_url",
            "base64",
        ),
        (
            json!({"type": "message", "role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}),
            "input[0].content[0]",
            "file_id",
        ),
        (
            json!({"type": "function_call", "name": "f", "arguments": "{}"}),
            "input[0]",
            "missing field `call_id`",
        ),
        (
            json!({"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}),
            "input[0]",
            "invalid type",
        ),
    ] {
        let (message, param) = refused(messages(None, Some(json!([item]))));
        assert_eq!(param.as_deref(), Some(want_param), "{item}: {message}");
        assert!(message.contains(want_words), "{item}: {message}");
    }
    let (message, _) = refused(messages(None, Some(json!(42))));
    assert!(message.contains("string or a list"), "{message}");
    let (message, _) = refused(messages(None, Some(json!([]))));
    assert!(message.contains("`input` is required"), "{message}");
}

#[test]
fn images_are_taken_as_base64_data_urls() {
    let input = json!([{"role": "user", "content": [
        {"type": "input_text", "text": "what is this"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
    ]}]);
    let m = messages(None, Some(input)).unwrap();
    assert_eq!(m[0].images, ["iVBORw0KGgo="]);
}

#[test]
fn custom_tools_are_functions_with_one_string_input_and_hosted_tools_are_left_out() {
    let list = vec![
        json!({"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}),
        json!({"type": "custom", "name": "apply_patch", "description": "Edit files.",
               "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}}),
        json!({"type": "web_search"}),
        json!({"type": "local_shell"}),
    ];
    let t = tools(list, None).unwrap();
    assert_eq!(t.ignored, ["web_search", "local_shell"]);
    assert_eq!(t.custom.iter().collect::<Vec<_>>(), ["apply_patch"]);
    assert_eq!(t.offered.len(), 2);
    assert_eq!(t.offered[0]["function"]["name"], "shell");
    let patch = &t.offered[1]["function"];
    assert_eq!(patch["name"], "apply_patch");
    assert_eq!(patch["parameters"]["required"], json!(["input"]));
    assert_eq!(
        patch["parameters"]["properties"]["input"]["type"],
        json!("string")
    );
    let description = patch["description"].as_str().unwrap();
    assert!(description.starts_with("Edit files."), "{description}");
    assert!(
        description.contains("Lark grammar:\nstart: begin_patch"),
        "{description}"
    );
}

#[test]
fn tool_choice_narrows_or_clears_the_tools() {
    let list = || {
        vec![
            json!({"type": "function", "name": "a"}),
            json!({"type": "custom", "name": "b"}),
        ]
    };
    let names = |t: &Tools| -> Vec<String> {
        t.offered
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&tools(list(), Some(&json!("auto"))).unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(&tools(list(), Some(&json!("required"))).unwrap()),
        ["a", "b"]
    );
    assert!(
        tools(list(), Some(&json!("none")))
            .unwrap()
            .offered
            .is_empty()
    );
    assert_eq!(
        names(&tools(list(), Some(&json!({"type": "custom", "name": "b"}))).unwrap()),
        ["b"]
    );
    let allowed = json!({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "a"}]});
    assert_eq!(names(&tools(list(), Some(&allowed)).unwrap()), ["a"]);
    let hosted = tools(list(), Some(&json!({"type": "web_search"}))).unwrap();
    assert_eq!(hosted.ignored, ["tool_choice web_search"]);
    let (message, param) = refused(tools(
        list(),
        Some(&json!({"type": "function", "name": "zz"})),
    ));
    assert!(message.contains("`zz`"), "{message}");
    assert_eq!(param.as_deref(), Some("tool_choice"));
    refused(tools(list(), Some(&json!("sometimes"))));
    refused(tools(list(), Some(&json!(3))));
}

#[test]
fn bad_tools_are_400s_naming_them() {
    for (tool, want_param) in [
        (json!({"name": "x"}), "tools[0].type"),
        (json!("shell"), "tools[0].type"),
        (json!({"type": "function"}), "tools[0]"),
        (json!({"type": "function", "name": ""}), "tools[0].name"),
        (
            json!({"type": "custom", "name": "p", "format": {"type": "grammar", "syntax": "ebnf", "definition": "x"}}),
            "tools[0]",
        ),
    ] {
        let (message, param) = refused(tools(vec![tool.clone()], None));
        assert_eq!(param.as_deref(), Some(want_param), "{tool}: {message}");
    }
    let twice = vec![
        json!({"type": "function", "name": "x"}),
        json!({"type": "custom", "name": "x"}),
    ];
    let (message, param) = refused(tools(twice, None));
    assert!(message.contains("two tools are named `x`"), "{message}");
    assert_eq!(param.as_deref(), Some("tools[1].name"));
}

#[test]
fn stored_state_is_refused_with_what_to_send_instead() {
    let (message, param) = refused(refuse_state(&body(
        json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
    )));
    assert_eq!(param.as_deref(), Some("previous_response_id"));
    assert!(message.contains("does not store responses"), "{message}");
    assert!(
        message.contains("whole conversation in `input`"),
        "{message}"
    );
    refused(refuse_state(&body(json!({"conversation": "conv_1"}))));
    refused(refuse_state(&body(json!({"background": true}))));
    refuse_state(&body(json!({"store": true, "background": false}))).unwrap();
    refuse_state(&body(json!({"store": false}))).unwrap();
}

#[test]
fn effort_goes_only_to_thinking_models() {
    assert_eq!(think(Some("medium"), true).unwrap(), Some(json!("medium")));
    assert_eq!(think(Some("minimal"), true).unwrap(), Some(json!("low")));
    assert_eq!(think(Some("xhigh"), true).unwrap(), Some(json!("max")));
    assert_eq!(think(Some("none"), true).unwrap(), Some(json!(false)));
    assert_eq!(think(Some("high"), false).unwrap(), None);
    assert_eq!(think(None, true).unwrap(), None);
    let (message, _) = refused(think(Some("extreme"), false));
    assert!(message.contains("`extreme`"), "{message}");
}

#[test]
fn text_format_maps_to_structured_output() {
    assert_eq!(text_format(Some(json!({"type": "text"}))).unwrap(), None);
    assert_eq!(
        text_format(Some(json!({"type": "json_object"}))).unwrap(),
        Some(ResponseFormat::Json)
    );
    let schema = json!({"type": "object"});
    assert_eq!(
        text_format(Some(
            json!({"type": "json_schema", "name": "s", "schema": schema})
        ))
        .unwrap(),
        Some(ResponseFormat::JsonSchema(schema))
    );
    refused(text_format(Some(
        json!({"type": "json_schema", "name": "s"}),
    )));
    refused(text_format(Some(json!({"type": "yaml"}))));
}

#[test]
fn sampling_is_bounded_and_max_output_tokens_fits_the_context() {
    check_sampling(
        &body(json!({"max_output_tokens": 4096, "temperature": 0})),
        4096,
    )
    .unwrap();
    let (message, param) = refused(check_sampling(
        &body(json!({"max_output_tokens": 1_000_000_000})),
        4096,
    ));
    assert_eq!(param.as_deref(), Some("max_output_tokens"));
    assert!(message.contains("context of 4096"), "{message}");
    refused(check_sampling(&body(json!({"max_output_tokens": 0})), 4096));
    refused(check_sampling(&body(json!({"temperature": 2.5})), 4096));
    refused(check_sampling(&body(json!({"top_p": -0.1})), 4096));
}

#[test]
fn wrong_types_and_unknown_stream_options_fail_to_parse_naming_the_field() {
    for (v, param) in [
        (json!({"max_output_tokens": -5}), "max_output_tokens"),
        (json!({"max_output_tokens": 1e30}), "max_output_tokens"),
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"tools": {"type": "function"}}), "tools"),
        (json!({"stream": "yes"}), "stream"),
        (
            json!({"stream_options": {"include_usage": true}}),
            "stream_options.include_usage",
        ),
        (json!({"reasoning": {"effort": 3}}), "reasoning.effort"),
        (json!({"truncation": "sometimes"}), "truncation"),
    ] {
        let e = parse::<ResponsesBody>(v.to_string().as_bytes()).expect_err("rejected");
        assert_eq!(e.param.as_deref(), Some(param), "{v}: {}", e.message);
    }
}

#[test]
fn tool_choice_tells_backends_what_to_force() {
    use devassist_core::ToolChoice as N;
    let of = |v: Value| neutral_choice(Some(&v));
    assert_eq!(neutral_choice(None), N::Auto);
    assert_eq!(of(json!("auto")), N::Auto);
    assert_eq!(of(json!("required")), N::Required);
    assert_eq!(of(json!("none")), N::None);
    assert_eq!(
        of(json!({"type": "custom", "name": "apply_patch"})),
        N::Function("apply_patch".into())
    );
    assert_eq!(
        of(json!({"type": "allowed_tools", "mode": "required", "tools": []})),
        N::Required
    );
    assert_eq!(of(json!({"type": "web_search"})), N::Auto);
}
