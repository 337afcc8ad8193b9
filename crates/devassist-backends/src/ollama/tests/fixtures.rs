//! Upstream streams as Ollama sends them (one string per NDJSON line).

/// `/api/chat` with a thinking model, a tool call, and the final metrics line.
pub const CHAT_THINKING_TOOLS: &[&str] = &[
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2025-07-07T20:22:19.01Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Need the weather.\"},\"done\":false}\n",
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2025-07-07T20:22:19.05Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Let me check\"},\"done\":false}\n",
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2025-07-07T20:22:19.184789Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_ab12cd34\",\"function\":{\"index\":0,\"name\":\"get_weather\",\"arguments\":{\"city\":\"Tokyo\"}}}]},\"done\":false}\n",
    "{\"model\":\"qwen3:8b\",\"created_at\":\"2025-07-07T20:22:19.19314Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":182242375,\"load_duration\":41295167,\"prompt_eval_count\":169,\"prompt_eval_duration\":24573166,\"eval_count\":15,\"eval_duration\":115959084}\n",
];

/// `/api/generate` FIM stream with `context` on the final line, stopped by `num_predict`.
pub const GENERATE_FIM: &[&str] = &[
    "{\"model\":\"qwen2.5-coder:1.5b\",\"created_at\":\"2024-08-04T08:52:19.385406455-07:00\",\"response\":\"if n < 2\",\"done\":false}\n",
    "{\"model\":\"qwen2.5-coder:1.5b\",\"created_at\":\"2024-08-04T08:52:19.39Z\",\"response\":\":\\n        return n\",\"done\":false}\n",
    "{\"model\":\"qwen2.5-coder:1.5b\",\"created_at\":\"2024-08-04T19:22:45.499127Z\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"context\":[151659,750,15801,151661],\"total_duration\":10706818083,\"load_duration\":6338219291,\"prompt_eval_count\":26,\"prompt_eval_duration\":130079000,\"eval_count\":259,\"eval_duration\":4232710000}\n",
];

/// `/api/generate` with `stream: false`: one object, no trailing newline.
pub const GENERATE_ONE_OBJECT: &str = "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"response\":\"The sky is blue.\",\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],\"total_duration\":5043500667,\"load_duration\":5025959,\"prompt_eval_count\":26,\"prompt_eval_duration\":325953000,\"eval_count\":290,\"eval_duration\":4709213000}";

/// A stream that fails after it started (Ollama writes one error line and stops).
pub const CHAT_ERROR_MID_STREAM: &[&str] = &[
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n",
    "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n",
];

/// `/api/pull` progress.
pub const PULL_PROGRESS: &[&str] = &[
    "{\"status\":\"pulling manifest\"}\n",
    "{\"status\":\"pulling 8eeb52dfb3bb\",\"digest\":\"sha256:8eeb52dfb3bb\",\"total\":2019377376,\"completed\":241970}\n",
    "{\"status\":\"verifying sha256 digest\"}\n",
    "{\"status\":\"writing manifest\"}\n",
    "{\"status\":\"success\"}\n",
];

pub const EMBED: &str = "{\"model\":\"all-minilm\",\"embeddings\":[[0.010071029,-0.0017594862],[0.5,0.25]],\"total_duration\":14143917,\"load_duration\":1019500,\"prompt_eval_count\":8}";
