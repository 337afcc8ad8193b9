//! How to reach one HTTP upstream. Shared by the OpenAI-compatible and Ollama backends,
//! which differ only in the protocol they speak over it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Connection settings of one upstream server. A plain struct: the gateway builds it from
/// its TOML config.
#[derive(Clone)]
pub struct HttpConfig {
    /// Base URL. OpenAI-compatible servers: with the API prefix (`http://gpu-1:8000/v1`);
    /// Ollama: the server root (`http://gpu-1:11434`). Request paths are appended to it.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Limit on establishing the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Limit on a whole call, from sending the request to the end of the stream.
    pub request_timeout: Duration,
    /// Longest silence allowed between two chunks of a response body.
    pub idle_timeout: Duration,
    /// Extra headers sent on every request (e.g. a tenant header a proxy needs).
    pub extra_headers: BTreeMap<String, String>,
}

impl Default for HttpConfig {
    /// Every setting but `base_url`, which has no sensible default and must be set.
    fn default() -> Self {
        Self {
            base_url: String::new(),
            api_key: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            extra_headers: BTreeMap::new(),
        }
    }
}

// Hand-written so that the api key never reaches a log line.
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "extra_headers",
                &self.extra_headers.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}
