mod fixtures;
mod props;
mod request;
mod stream;

use super::OpenAiBackend;
use crate::OpenAiConfig;
use crate::test_server::TestServer;
use devassist_core::{CallContext, GenerateRequest, Message, Prompt, Role};
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig {
        base_url,
        api_key: Some("sk-secret-test-key".to_owned()),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(2),
        extra_headers: BTreeMap::from([("x-tenant".to_owned(), "team-a".to_owned())]),
        ..OpenAiConfig::default()
    }
}

fn backend(server: &TestServer) -> OpenAiBackend {
    OpenAiBackend::new(config(server.url("/v1"))).unwrap()
}

fn ctx() -> CallContext {
    CallContext::new("req-42")
}

fn chat(text: &str) -> GenerateRequest {
    GenerateRequest::new(
        "qwen",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, text)],
            tools: Vec::new(),
        },
    )
}
