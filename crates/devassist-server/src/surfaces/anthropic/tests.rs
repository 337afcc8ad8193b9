//! The Anthropic surface's translation (blocks → messages, tools, sampling) and the block
//! assembler (stop reasons, stop sequences). The whole app on the mock: `http_tests.rs`.

use super::assemble::{Assembler, BlockKind, Op, StopReason};
use super::convert;
use super::wire::{MessagesBody, ToolChoice, WireMessage, WireTool};
use devassist_core::{Event, FinishReason, Role, ToolCall, Usage};
use serde_json::{Value, json};

fn wire_messages(v: Value) -> Vec<WireMessage> {
    serde_json::from_value(v).unwrap()
}

#[test]
fn system_blocks_join_and_tool_results_become_tool_messages() {
    let system = convert::system(Some(json!([
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=9;"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
    ])))
    .unwrap();
    let out = convert::messages(
        system,
        wire_messages(json!([
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": [{"type": "text", "text": "12 C"}]},
                {"type": "text", "text": "And tomorrow?"}
            ]}
        ])),
    )
    .unwrap();
    let roles: Vec<Role> = out.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::User
        ]
    );
    assert_eq!(
        out[0].content,
        "x-anthropic-billing-header: cc_version=1; cch=9;\n\nYou are Claude Code."
    );
    assert_eq!(out[2].content, "Checking.");
    assert_eq!(out[2].thinking.as_deref(), Some("Use the tool."));
    assert_eq!(
        out[2].tool_calls,
        vec![ToolCall {
            id: "toolu_1".into(),
            name: "get_weather".into(),
            arguments: json!({"city": "Oslo"}),
        }]
    );
    assert_eq!(out[3].content, "12 C");
    assert_eq!(out[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(out[3].tool_name.as_deref(), Some("get_weather"));
    assert_eq!(out[4].content, "And tomorrow?");
}

#[test]
fn bad_blocks_are_400s_naming_the_block() {
    let cases = [
        (
            json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]),
            "messages[0].content[0].tool_use_id: unexpected `tool_use_id`",
        ),
        (
            json!([{"role": "user", "content": [{"type": "txt", "text": "a"}]}]),
            "messages[0].content[0].type: unknown variant `txt`",
        ),
        (
            json!([{"role": "user", "content": [{"type": "text"}]}]),
            "messages[0].content[0]: missing field `text`",
        ),
        (
            json!([{"role": "user", "content": [{"type": "text", "text": "a", "colour": 1}]}]),
            "messages[0].content[0]: unknown field `colour`",
        ),
        (
            json!([{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}]}]),
            "messages[0].content[0].source: only base64 image sources",
        ),
        (
            json!([{"role": "user", "content": 7}]),
            "messages[0].content: must be a string or a list of content blocks",
        ),
        (
            json!([{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}]),
            "messages[0].content[0].input: must be an object",
        ),
        (json!([]), "messages: at least one message is required"),
    ];
    for (messages, want) in cases {
        let err = serde_json::from_value::<Vec<WireMessage>>(messages.clone())
            .map_err(|e| e.to_string())
            .and_then(|m| convert::messages(None, m).map_err(|e| e.message));
        let err = err.expect_err(&messages.to_string());
        assert!(err.starts_with(want), "{messages}: {err}");
    }
}

#[test]
fn system_messages_in_the_conversation_and_server_blocks() {
    let out = convert::messages(
        None,
        wire_messages(json!([
            {"role": "user", "content": "a"},
            {"role": "system", "content": [{"type": "text", "text": "Now be formal."}]},
            {"role": "user", "content": "b"},
        ])),
    )
    .unwrap();
    assert_eq!(out[1].role, Role::System);
    assert_eq!(out[1].content, "Now be formal.");
    let err = convert::messages(
        None,
        wire_messages(json!([{"role": "user", "content": [
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}]}])),
    )
    .unwrap_err();
    assert_eq!(err.param.as_deref(), Some("messages[0].content[0].type"));
    assert!(err.message.contains("server tools"), "{}", err.message);
}

#[test]
fn max_tokens_zero_only_fills_the_cache() {
    let mut a = Assembler::new(Vec::new(), false, 9).cache_only();
    let ops = run(
        &mut a,
        vec![Event::Text("x".into()), done(FinishReason::Length, 12, 1)],
    );
    assert_eq!(
        ops,
        vec![Op::End {
            reason: StopReason::MaxTokens,
            stop_sequence: None,
            usage: Usage {
                prompt_tokens: 12,
                completion_tokens: 0
            }
        }]
    );
}

#[test]
fn a_tool_result_must_answer_the_previous_assistant_turn() {
    let err = convert::messages(
        None,
        wire_messages(json!([
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
        ])),
    )
    .unwrap_err();
    assert_eq!(
        err.param.as_deref(),
        Some("messages[3].content[0].tool_use_id")
    );
}

fn tool(name: &str) -> WireTool {
    serde_json::from_value(json!({
        "name": name, "description": "d",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}
    }))
    .unwrap()
}

#[test]
fn tool_choice_tells_backends_what_to_force() {
    use devassist_core::ToolChoice as N;
    let parse = |v: Value| serde_json::from_value::<ToolChoice>(v).unwrap();
    assert_eq!(convert::neutral_choice(None), (N::Auto, None));
    assert_eq!(
        convert::neutral_choice(Some(&parse(json!({"type": "any"})))),
        (N::Required, None)
    );
    assert_eq!(
        convert::neutral_choice(Some(&parse(
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
        ))),
        (N::Function("f".into()), Some(false))
    );
    assert_eq!(
        convert::neutral_choice(Some(&parse(
            json!({"type": "auto", "disable_parallel_tool_use": false})
        ))),
        (N::Auto, Some(true))
    );
    assert_eq!(
        convert::neutral_choice(Some(&parse(json!({"type": "none"})))),
        (N::None, None)
    );
}

#[test]
fn tools_become_functions_and_tool_choice_narrows_them() {
    let all = convert::tools(Some(vec![tool("a"), tool("b")]), None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["type"], "function");
    assert_eq!(all[0]["function"]["name"], "a");
    assert_eq!(
        all[0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    let none = convert::tools(Some(vec![tool("a")]), Some(ToolChoice::None)).unwrap();
    assert!(none.is_empty());
    let one = convert::tools(
        Some(vec![tool("a"), tool("b")]),
        Some(ToolChoice::Tool {
            name: "b".into(),
            disable_parallel_tool_use: None,
        }),
    )
    .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["function"]["name"], "b");
    let missing = convert::tools(
        Some(vec![tool("a")]),
        Some(ToolChoice::Tool {
            name: "zz".into(),
            disable_parallel_tool_use: None,
        }),
    )
    .unwrap_err();
    assert_eq!(missing.param.as_deref(), Some("tool_choice.name"));
    let server: WireTool =
        serde_json::from_value(json!({"type": "web_search_20250305", "name": "web_search"}))
            .unwrap();
    let err = convert::tools(Some(vec![server]), None).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("tools[0].type"));
}

#[test]
fn sampling_is_checked_with_anthropics_ranges() {
    let s = convert::sampling(Some(100), Some(0.5), Some(0.9), Some(40)).unwrap();
    assert_eq!(s.max_tokens, Some(100));
    assert_eq!(s.top_k, Some(40));
    // 0 fills the prompt cache: the backend generates one token, which is not shown.
    assert_eq!(
        convert::sampling(Some(0), None, None, None)
            .unwrap()
            .max_tokens,
        Some(1)
    );
    for (max, temp, param) in [
        (None, None, "max_tokens"),
        (Some(-1), None, "max_tokens"),
        (Some(convert::MAX_TOKENS_LIMIT + 1), None, "max_tokens"),
        (Some(10), Some(1.5), "temperature"),
    ] {
        let err = convert::sampling(max, temp, None, None).unwrap_err();
        assert_eq!(err.param.as_deref(), Some(param));
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn unknown_top_level_fields_are_refused_but_known_extras_accepted() {
    let ok: Result<MessagesBody, _> = serde_json::from_value(json!({
        "model": "m", "max_tokens": 1, "messages": [],
        "metadata": {"user_id": "u"}, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "context_management": {}, "service_tier": "auto"
    }));
    assert!(ok.is_ok());
    let bad: Result<MessagesBody, _> =
        serde_json::from_value(json!({"model": "m", "max_tokens": 1, "frobnicate": true}));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unknown field `frobnicate`")
    );
}

fn done(finish: FinishReason, prompt: u32, completion: u32) -> Event {
    Event::done(
        finish,
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
        },
    )
}

fn run(asm: &mut Assembler, events: Vec<Event>) -> Vec<Op> {
    let mut ops = Vec::new();
    for e in events {
        ops.extend(asm.push(e));
    }
    ops
}

#[test]
fn stop_reasons_map_from_the_finish_and_the_blocks() {
    let mut a = Assembler::new(Vec::new(), false, 5);
    let ops = run(
        &mut a,
        vec![
            Event::Reasoning("hidden".into()),
            Event::Text("Hel".into()),
            Event::Text("lo".into()),
            done(FinishReason::Length, 7, 2),
        ],
    );
    assert_eq!(
        ops,
        vec![
            Op::Open(BlockKind::Text),
            Op::Delta("Hel".into()),
            Op::Delta("lo".into()),
            Op::Close,
            Op::End {
                reason: StopReason::MaxTokens,
                stop_sequence: None,
                usage: Usage {
                    prompt_tokens: 7,
                    completion_tokens: 2
                }
            },
        ]
    );
    let mut a = Assembler::new(Vec::new(), true, 5);
    let ops = run(
        &mut a,
        vec![
            Event::Reasoning("think".into()),
            Event::Text("Checking.".into()),
            Event::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: Value::String("{\"a\":1}".into()),
            }),
            done(FinishReason::Stop, 0, 3),
        ],
    );
    assert_eq!(ops[0], Op::Open(BlockKind::Thinking));
    assert_eq!(ops[2], Op::Close);
    assert_eq!(ops[3], Op::Open(BlockKind::Text));
    assert_eq!(
        ops[6],
        Op::Tool {
            id: "call_1".into(),
            name: "f".into(),
            input: json!({"a": 1})
        }
    );
    assert!(matches!(
        ops.last(),
        Some(Op::End { reason: StopReason::ToolUse, usage, .. }) if usage.prompt_tokens == 5
    ));
}

#[test]
fn a_stop_sequence_split_across_events_ends_the_answer_and_is_named() {
    let mut a = Assembler::new(vec!["END".into(), "ENDING".into()], false, 1);
    let ops = run(
        &mut a,
        vec![
            Event::Text("one E".into()),
            Event::Text("NDtwo".into()),
            Event::Text("never".into()),
            done(FinishReason::Stop, 1, 3),
        ],
    );
    let text: String = ops
        .iter()
        .filter_map(|o| match o {
            Op::Delta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "one ");
    assert!(a.is_ended());
    assert!(matches!(
        ops.last(),
        Some(Op::End { reason: StopReason::StopSequence, stop_sequence: Some(s), .. }) if s == "END"
    ));
    // A held-back partial match that never completes is emitted at the end.
    let mut a = Assembler::new(vec!["END".into()], false, 1);
    let ops = run(
        &mut a,
        vec![
            Event::Text("fine EN".into()),
            done(FinishReason::Stop, 1, 2),
        ],
    );
    let text: String = ops
        .iter()
        .filter_map(|o| match o {
            Op::Delta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "fine EN");
    assert!(matches!(
        ops.last(),
        Some(Op::End {
            reason: StopReason::EndTurn,
            ..
        })
    ));
}
