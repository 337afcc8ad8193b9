//! Request bodies: what Ollama receives for each kind of neutral request.

use super::super::request::{Endpoint, embed_body, generate_body};
use devassist_core::{
    EmbedRequest, GenerateRequest, KeepAlive, Message, Prompt, ResponseFormat, Role, ToolCall,
    ToolChoice,
};
use serde_json::{Map, json};
use std::time::Duration;

#[test]
fn chat_keeps_images_tools_thinking_and_object_arguments() {
    let mut user = Message::new(Role::User, "Weather in Tokyo? And this image?");
    user.images = vec!["iVBORw0KGgo=".to_owned()];
    let mut assistant = Message::new(Role::Assistant, "");
    assistant.thinking = Some("Need a tool.".to_owned());
    assistant.tool_calls = vec![ToolCall {
        id: "call_ab12cd34".to_owned(),
        name: "get_weather".to_owned(),
        // As an OpenAI client sends it: a JSON string.
        arguments: json!("{\"city\":\"Tokyo\"}"),
    }];
    let mut tool = Message::new(Role::Tool, "22°C");
    tool.tool_name = Some("get_weather".to_owned());
    tool.tool_call_id = Some("call_ab12cd34".to_owned());
    let mut req = GenerateRequest::new(
        "qwen3:8b",
        Prompt::Chat {
            messages: vec![user, assistant, tool],
            tools: vec![json!({"type": "function", "function": {"name": "get_weather"}})],
        },
    );
    req.sampling.temperature = Some(0.7);
    req.sampling.num_ctx = Some(8192);
    req.sampling.stop = vec!["</s>".to_owned()];
    req.keep_alive = Some(KeepAlive::Forever);
    req.think = Some(json!("high"));
    req.format = Some(ResponseFormat::Json);
    let (endpoint, body) = generate_body(&req);
    assert_eq!(endpoint, Endpoint::Chat);
    insta::assert_json_snapshot!(body);
}

#[test]
fn generate_keeps_every_native_field() {
    let prompt = Prompt::Completion {
        prompt: "def fib(n):".to_owned(),
        suffix: Some("\n".to_owned()),
        system: Some("You write Python.".to_owned()),
        raw: true,
        template: Some("{{ .Prompt }}".to_owned()),
        images: vec!["R0lGOD=".to_owned()],
    };
    let mut req = GenerateRequest::new("qwen2.5-coder:1.5b", prompt);
    req.sampling.max_tokens = Some(64);
    req.sampling.seed = Some(1_718_000_000_000);
    req.sampling.repeat_last_n = Some(0);
    req.sampling.typical_p = Some(0.9);
    // `extra` carries the options without a typed field; a typed field wins a clash and
    // nulls (ollama-rs sends every unset option as null) are dropped.
    req.sampling.extra = Map::from_iter([
        ("num_gpu".to_owned(), json!(99)),
        ("mirostat".to_owned(), json!(null)),
        ("num_predict".to_owned(), json!(4096)),
    ]);
    req.keep_alive = Some(KeepAlive::For(Duration::from_secs(1800)));
    req.context = Some(vec![1, 2, 3]);
    req.format = Some(ResponseFormat::JsonSchema(json!({"type": "object"})));
    req.stream = false;
    let (endpoint, body) = generate_body(&req);
    assert_eq!(endpoint, Endpoint::Generate);
    assert_eq!(
        body,
        json!({
            "model": "qwen2.5-coder:1.5b",
            "prompt": "def fib(n):",
            "suffix": "\n",
            "system": "You write Python.",
            "raw": true,
            "template": "{{ .Prompt }}",
            "images": ["R0lGOD="],
            "context": [1, 2, 3],
            "stream": false,
            "format": {"type": "object"},
            "keep_alive": 1800,
            "options": {"num_gpu": 99, "num_predict": 64, "seed": 1_718_000_000_000_i64,
                        "repeat_last_n": 0, "typical_p": 0.9},
        })
    );
}

#[test]
fn minimal_generate_sends_no_empty_fields() {
    let prompt = Prompt::Completion {
        prompt: "hi".to_owned(),
        suffix: None,
        system: None,
        raw: false,
        template: None,
        images: Vec::new(),
    };
    let (_, body) = generate_body(&GenerateRequest::new("m", prompt));
    assert_eq!(body, json!({"model": "m", "prompt": "hi", "stream": true}));
}

#[test]
fn embed_body_with_options() {
    let req = EmbedRequest {
        model: "all-minilm".to_owned(),
        input: vec!["a".to_owned()],
        dimensions: None,
        truncate: false,
        keep_alive: Some(KeepAlive::For(Duration::ZERO)),
        options: Map::from_iter([("num_ctx".to_owned(), json!(512))]),
    };
    assert_eq!(
        embed_body(&req),
        json!({"model": "all-minilm", "input": ["a"], "truncate": false, "keep_alive": 0,
               "options": {"num_ctx": 512}})
    );
}

#[test]
fn tool_choice_none_leaves_the_tools_out() {
    let mut req = GenerateRequest::new(
        "llama3.1",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, "Weather?")],
            tools: vec![json!({"type": "function", "function": {"name": "get_weather"}})],
        },
    );
    assert!(generate_body(&req).1.get("tools").is_some());
    req.tool_choice = ToolChoice::None;
    assert!(generate_body(&req).1.get("tools").is_none());
}
