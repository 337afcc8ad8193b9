//! Upstream streams as vLLM, llama-server and Ollama's `/v1` send them (ids, timestamps and
//! model names as those servers write them; texts shortened). One string per SSE event.

/// vLLM 0.9 chat stream with a reasoning parser (Qwen3): reasoning, content, a separate
/// finish chunk, then the usage chunk after it (`stream_options.include_usage`).
pub const VLLM_CHAT_REASONING: &[&str] = &[
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"The user greets.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wörld 🦀\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-5d1f\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"Qwen/Qwen3-8B\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":17,\"completion_tokens\":5}}\n\n",
    "data: [DONE]\n\n",
];

/// vLLM with the hermes tool parser: two calls, arguments streamed as string deltas by
/// index, finish `tool_calls`, usage after the finish chunk.
pub const VLLM_TOOL_CALLS: &[&str] = &[
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"chatcmpl-tool-7f3e\",\"type\":\"function\",\"index\":0,\"function\":{\"name\":\"get_weather\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\": \\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"Paris\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"chatcmpl-tool-8b21\",\"type\":\"function\",\"index\":1,\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"tz\\\": \\\"CET\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"tool_calls\",\"stop_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9a\",\"object\":\"chat.completion.chunk\",\"created\":1718000001,\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":210,\"total_tokens\":250,\"completion_tokens\":40}}\n\n",
    "data: [DONE]\n\n",
];

/// llama-server (b5000 line) chat stream: `content: null` on the role chunk, usage and
/// `timings` on the finish chunk, stopped by `max_tokens`.
pub const LLAMA_SERVER_CHAT: &[&str] = &[
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"created\":1718000002,\"id\":\"chatcmpl-Xh3k\",\"model\":\"gpt-3.5-turbo\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"def\"}}],\"created\":1718000002,\"id\":\"chatcmpl-Xh3k\",\"model\":\"gpt-3.5-turbo\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\" fib\"}}],\"created\":1718000002,\"id\":\"chatcmpl-Xh3k\",\"model\":\"gpt-3.5-turbo\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"chat.completion.chunk\"}\n\n",
    "data: {\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}],\"created\":1718000002,\"id\":\"chatcmpl-Xh3k\",\"model\":\"gpt-3.5-turbo\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":2,\"prompt_tokens\":9,\"total_tokens\":11},\"timings\":{\"prompt_n\":9,\"prompt_ms\":12.5,\"prompt_per_token_ms\":1.39,\"prompt_per_second\":720.0,\"predicted_n\":2,\"predicted_ms\":30.0,\"predicted_per_token_ms\":15.0,\"predicted_per_second\":66.7}}\n\n",
    "data: [DONE]\n\n",
];

/// llama-server `/v1/completions` FIM stream (`choices[].text`); this build sends
/// `timings` but no usage object, and CRLF line endings as some proxies rewrite them.
pub const LLAMA_SERVER_FIM: &[&str] = &[
    "data: {\"choices\":[{\"text\":\"if n < 2:\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"created\":1718000003,\"model\":\"qwen2.5-coder-1.5b\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"text_completion\",\"id\":\"cmpl-Qz1\"}\r\n\r\n",
    "data: {\"choices\":[{\"text\":\"\\n        return n\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"created\":1718000003,\"model\":\"qwen2.5-coder-1.5b\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"text_completion\",\"id\":\"cmpl-Qz1\"}\r\n\r\n",
    "data: {\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"created\":1718000003,\"model\":\"qwen2.5-coder-1.5b\",\"system_fingerprint\":\"b5000-8c1a3e\",\"object\":\"text_completion\",\"id\":\"cmpl-Qz1\",\"timings\":{\"prompt_n\":14,\"prompt_ms\":8.0,\"predicted_n\":6,\"predicted_ms\":42.0}}\r\n\r\n",
    "data: [DONE]\r\n\r\n",
];

/// Ollama's `/v1/chat/completions`: the first content piece shares the role chunk.
pub const OLLAMA_V1_CHAT: &[&str] = &[
    "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"qwen2.5-coder:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"qwen2.5-coder:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"qwen2.5-coder:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"qwen2.5-coder:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[],\"usage\":{\"prompt_tokens\":26,\"completion_tokens\":2,\"total_tokens\":28}}\n\n",
    "data: [DONE]\n\n",
];

/// vLLM non-streaming chat response with a tool call.
pub const VLLM_CHAT_JSON: &str = r#"{"id":"chatcmpl-b7","object":"chat.completion","created":1718000004,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":null,"content":"Checking.","tool_calls":[{"id":"chatcmpl-tool-11","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},"logprobs":null,"finish_reason":"tool_calls","stop_reason":null}],"usage":{"prompt_tokens":180,"total_tokens":200,"completion_tokens":20},"prompt_logprobs":null}"#;

/// vLLM's answer to an over-long request (OpenAI error envelope, HTTP 400).
pub const VLLM_400: &str = r#"{"object":"error","message":"This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.","type":"BadRequestError","param":null,"code":400}"#;

/// vLLM embeddings, returned out of order on purpose.
pub const VLLM_EMBEDDINGS: &str = r#"{"id":"embd-1","object":"list","created":1718000005,"model":"BAAI/bge-m3","data":[{"index":1,"object":"embedding","embedding":[0.0,1.0]},{"index":0,"object":"embedding","embedding":[0.5,-0.25]}],"usage":{"prompt_tokens":7,"total_tokens":7,"completion_tokens":0}}"#;
