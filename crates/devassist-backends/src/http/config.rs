//! How to reach one HTTP upstream. Shared by the OpenAI-compatible and Ollama backends,
//! which differ only in the protocol they speak over it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
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
    /// Limit on establishing the connection: name resolution, TCP, the proxy's tunnel and
    /// the TLS handshake.
    pub connect_timeout: Duration,
    /// Limit on the wait for the response head (its first byte) of a streamed call, from
    /// sending the request. A non-streamed answer's head comes with the whole answer: those
    /// calls wait for `request_timeout` instead.
    pub head_timeout: Duration,
    /// Limit on a whole call, from sending the request to the end of the stream.
    pub request_timeout: Duration,
    /// Longest silence allowed between two chunks of a response body.
    pub idle_timeout: Duration,
    /// Extra headers sent on every request (e.g. a tenant header a proxy needs).
    pub extra_headers: BTreeMap<String, String>,
    /// Which forward proxy to go through, if any.
    pub proxy: Proxy,
    /// PEM bundle of extra CA certificates trusted for `https` upstreams, on top of the
    /// system's and Mozilla's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented to `https` upstreams that ask for one (mTLS).
    /// Set together with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

/// Which forward proxy an upstream is reached through.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their lowercase forms),
    /// read when the client is built. Loopback upstreams (`localhost`, `127.0.0.0/8`, `::1`)
    /// are always reached directly.
    #[default]
    FromEnv,
    /// No proxy, whatever the environment says.
    Direct,
    /// This `http://[user:password@]host:port` proxy, for `http` and `https` upstreams alike;
    /// the environment is not read. `https` upstreams are reached through a CONNECT tunnel.
    Url(String),
}

impl Default for HttpConfig {
    /// Every setting but `base_url`, which has no sensible default and must be set.
    fn default() -> Self {
        Self {
            base_url: String::new(),
            api_key: None,
            connect_timeout: Duration::from_secs(5),
            head_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            extra_headers: BTreeMap::new(),
            proxy: Proxy::FromEnv,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

// Hand-written so that the api key and a proxy's password never reach a log line.
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("head_timeout", &self.head_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "extra_headers",
                &self.extra_headers.keys().collect::<Vec<_>>(),
            )
            .field("proxy", &self.proxy)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::FromEnv => f.write_str("FromEnv"),
            Proxy::Direct => f.write_str("Direct"),
            Proxy::Url(url) => match url::Url::parse(url) {
                Ok(parsed) => write!(
                    f,
                    "Url({}://{}:{})",
                    parsed.scheme(),
                    parsed.host_str().unwrap_or_default(),
                    parsed.port_or_known_default().unwrap_or_default()
                ),
                Err(_) => f.write_str("Url(<invalid>)"),
            },
        }
    }
}
