//! Request bodies: what the upstream receives for each kind of neutral request.

use super::super::request::{Endpoint, embed_body, generate_body};
use devassist_core::{
    EmbedRequest, GenerateRequest, KeepAlive, Message, Prompt, ResponseFormat, Role, ToolCall,
    ToolChoice,
};
use serde_json::{Map, json};
use std::time::Duration;

fn completion(prompt: &str, suffix: Option<&str>) -> Prompt {
    Prompt::Completion {
        prompt: prompt.to_owned(),
        suffix: suffix.map(str::to_owned),
        system: None,
        raw: false,
        template: None,
        images: Vec::new(),
    }
}

#[test]
fn chat_with_images_tools_and_tool_results() {
    let mut user = Message::new(Role::User, "What is in this picture, and the weather?");
    user.images = vec![
        "iVBORw0KGgoAAAANSUhEUg==".to_owned(),
        "/9j/4AAQSkZJRg==".to_owned(),
    ];
    let mut assistant = Message::new(Role::Assistant, "");
    assistant.tool_calls = vec![
        ToolCall {
            id: "call_1".to_owned(),
            name: "get_weather".to_owned(),
            arguments: json!({"city": "Paris"}),
        },
        ToolCall {
            id: "call_2".to_owned(),
            name: "broken".to_owned(),
            arguments: json!("{not json"),
        },
    ];
    let mut tool = Message::new(Role::Tool, "18°C, sunny");
    tool.tool_call_id = Some("call_1".to_owned());
    tool.tool_name = Some("get_weather".to_owned());
    let mut req = GenerateRequest::new(
        "Qwen/Qwen2.5-7B-Instruct",
        Prompt::Chat {
            messages: vec![
                Message::new(Role::System, "Be brief."),
                user,
                assistant,
                tool,
            ],
            tools: vec![
                json!({"type": "function", "function": {"name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}),
            ],
        },
    );
    req.sampling.max_tokens = Some(256);
    req.sampling.temperature = Some(0.2);
    req.sampling.top_p = Some(0.9);
    req.sampling.top_k = Some(40);
    req.sampling.min_p = Some(0.05);
    req.sampling.repeat_penalty = Some(1.1);
    req.sampling.seed = Some(7);
    req.sampling.presence_penalty = Some(0.5);
    req.sampling.frequency_penalty = Some(0.25);
    req.sampling.stop = vec!["<|im_end|>".to_owned()];
    req.sampling.num_ctx = Some(8192);
    req.sampling.extra = Map::from_iter([("num_gpu".to_owned(), json!(99))]);
    req.keep_alive = Some(KeepAlive::For(Duration::from_secs(300)));
    req.think = Some(json!(false));
    let (endpoint, body) = generate_body(&req);
    assert_eq!(endpoint, Endpoint::Chat);
    insta::assert_json_snapshot!(body);
}

#[test]
fn fim_goes_to_completions_with_suffix() {
    let mut req =
        GenerateRequest::new("qwen2.5-coder", completion("def fib(n):\n    ", Some("\n")));
    req.sampling.max_tokens = Some(64);
    let (endpoint, body) = generate_body(&req);
    assert_eq!(endpoint, Endpoint::Completions);
    assert_eq!(
        body,
        json!({
            "model": "qwen2.5-coder",
            "prompt": "def fib(n):\n    ",
            "suffix": "\n",
            "max_tokens": 64,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn raw_and_prompt_only_template_go_to_completions_untouched() {
    let raw = Prompt::Completion {
        prompt: "<PRE> a <SUF>b <MID>".to_owned(),
        suffix: Some(String::new()),
        system: Some("ignored".to_owned()),
        raw: true,
        template: None,
        images: Vec::new(),
    };
    let tabby = Prompt::Completion {
        prompt: "<PRE> a <SUF>b <MID>".to_owned(),
        suffix: None,
        system: None,
        raw: false,
        template: Some("{{.Prompt}}".to_owned()),
        images: Vec::new(),
    };
    for prompt in [raw, tabby] {
        let mut req = GenerateRequest::new("codellama", prompt);
        req.stream = false;
        let (endpoint, body) = generate_body(&req);
        assert_eq!(endpoint, Endpoint::Completions);
        assert_eq!(
            body,
            json!({"model": "codellama", "prompt": "<PRE> a <SUF>b <MID>", "stream": false})
        );
    }
}

#[test]
fn templated_generate_becomes_a_chat() {
    let prompt = Prompt::Completion {
        prompt: "Why is the sky blue?".to_owned(),
        suffix: Some(String::new()),
        system: Some("You are terse.".to_owned()),
        raw: false,
        template: Some("{{ .System }} {{ .Prompt }}".to_owned()),
        images: vec!["R0lGODlhAQABAAAAACw=".to_owned()],
    };
    let mut req = GenerateRequest::new("llama3.2", prompt);
    req.format = Some(ResponseFormat::JsonSchema(json!({"type": "object"})));
    req.think = Some(json!("high"));
    let (endpoint, body) = generate_body(&req);
    assert_eq!(endpoint, Endpoint::Chat);
    assert_eq!(
        body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Why is the sky blue?"},
                    {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}},
                ]},
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}},
            "reasoning_effort": "high",
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn json_mode_and_non_streaming() {
    let mut req = GenerateRequest::new(
        "m",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, "hi")],
            tools: Vec::new(),
        },
    );
    req.stream = false;
    req.format = Some(ResponseFormat::Json);
    let (_, body) = generate_body(&req);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["stream"], json!(false));
    assert!(body.get("stream_options").is_none());
}

#[test]
fn embeddings_body() {
    let req = EmbedRequest {
        model: "bge-m3".to_owned(),
        input: vec!["a".to_owned(), "b c".to_owned()],
        dimensions: Some(256),
        truncate: true,
        keep_alive: None,
        options: Map::new(),
    };
    assert_eq!(
        embed_body(&req),
        json!({"model": "bge-m3", "input": ["a", "b c"], "encoding_format": "float", "dimensions": 256})
    );
}

#[test]
fn tool_choice_and_parallel_calls_go_with_the_tools() {
    let tools = vec![json!({"type": "function", "function": {"name": "get_weather"}})];
    let chat = |tools: Vec<serde_json::Value>| {
        GenerateRequest::new(
            "m",
            Prompt::Chat {
                messages: vec![Message::new(Role::User, "Weather?")],
                tools,
            },
        )
    };
    let mut req = chat(tools.clone());
    let (_, body) = generate_body(&req);
    assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none());
    req.tool_choice = ToolChoice::Function("get_weather".to_owned());
    req.parallel_tool_calls = Some(false);
    let (_, body) = generate_body(&req);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(body["parallel_tool_calls"], json!(false));
    req.tool_choice = ToolChoice::Required;
    assert_eq!(generate_body(&req).1["tool_choice"], json!("required"));
    req.tool_choice = ToolChoice::None;
    assert_eq!(generate_body(&req).1["tool_choice"], json!("none"));
    // Without tools OpenAI rejects a tool_choice: none is sent.
    let mut bare = chat(Vec::new());
    bare.tool_choice = ToolChoice::Required;
    assert!(generate_body(&bare).1.get("tool_choice").is_none());
}
