mod fixtures;
mod props;
mod request;
mod stream;

use super::OllamaBackend;
use crate::OllamaConfig;
use crate::test_server::TestServer;
use devassist_core::CallContext;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn config(base_url: String) -> OllamaConfig {
    OllamaConfig {
        base_url,
        api_key: Some("ollama-secret-key".to_owned()),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(2),
        extra_headers: BTreeMap::new(),
        ..OllamaConfig::default()
    }
}

fn backend(server: &TestServer) -> OllamaBackend {
    OllamaBackend::new(config(server.url(""))).unwrap()
}

fn ctx() -> CallContext {
    CallContext::new("req-7")
}
