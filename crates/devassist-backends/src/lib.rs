//! devassist-backends: one client per upstream protocol, behind the `Backend` trait.
//!
//! `openai` and `ollama` call real servers over HTTP; `mock` is deterministic and drives
//! tests and benchmarks. `sse` and `ndjson` are the incremental stream framers the HTTP
//! clients share. Nothing here routes, limits or retries: those wrap the trait. `http` also
//! serves one-off GETs (readiness probes, the CLI), so the program has one HTTP client.

pub mod http;
pub mod mock;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod sse;

#[cfg(test)]
mod test_json;
#[cfg(test)]
mod test_server;

pub use http::error::MALFORMED;
pub use http::{HttpConfig, Proxy};
pub use mock::{MockBackend, MockConfig, MockMode, MockStats};
pub use ollama::OllamaBackend;
pub use openai::OpenAiBackend;

/// The settings of an OpenAI-compatible upstream (`base_url` with the `/v1` prefix).
pub type OpenAiConfig = HttpConfig;
/// The settings of an Ollama upstream (`base_url` is the server root).
pub type OllamaConfig = HttpConfig;

/// A fresh tool-call id for upstreams that send none (Ollama's shape: `call_` + 8 chars).
pub(crate) fn new_call_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", id.get(..8).unwrap_or(&id))
}
