//! HTTP plumbing shared by the backends that call real upstream servers (`openai`,
//! `ollama`), and by readiness probes and the CLI (`get`): one pooled client per upstream,
//! headers, deadlines, status checks and the body pump that turns upstream bytes into
//! events.
//!
//! HTTP/1.1 and HTTP/2 are hyper's: `http://` upstreams go through `client::conn::http1` on
//! a socket pool of ours (`pool`), `https://` ones through hyper-util's pooled client
//! (`client`, which negotiates HTTP/2 by ALPN). TLS is rustls's (hyper-rustls), proxies are
//! hyper-util's. What is ours: the pool of plain sockets, the routes and deadlines, how
//! failures become errors, and one rule both transports keep — a request the upstream may
//! have read is never sent again.
//!
//! It knows nothing about either wire format; that lives in each backend's `stream.rs`.

mod client;
mod config;
mod connect;
pub(crate) mod error;
mod get;
mod pool;
pub(crate) mod proxy;
pub(crate) mod pump;
mod redact;
mod tls;

use base64::Engine;
use bytes::Bytes;
use devassist_core::{CallContext, ErrorKind, GatewayError, Origin, Reached};
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION,
};
use http::{Method, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::capture_connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

pub use config::{HttpConfig, Proxy};

pub use get::{GetOptions, get, get_json, probe};

/// `text` with every credential-shaped part (bearer tokens, `token=…`, API keys of the
/// usual shapes, JWTs) replaced by `[redacted]`; line breaks are kept. For text that came
/// from elsewhere and is shown again (a backend process's output in `/status`).
pub fn redact_credentials(text: &str) -> String {
    text.lines()
        .map(redact::patterns)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Forwarded correlation id; a static name is not parsed again on every request.
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest error body read back from an upstream to summarise its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Headers the client sets itself; configuring them would corrupt the framing.
pub(crate) const RESERVED_HEADERS: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
];

/// How requests reach an upstream.
#[derive(Clone)]
enum Transport {
    /// `http://`: HTTP/1.1 on sockets of our pool, driven by the caller (`pool`).
    Plain {
        pool: pool::Pool,
        /// The `Host` header every request carries.
        host: HeaderValue,
        /// Through a forward proxy: requests in absolute form.
        proxied: bool,
    },
    /// `https://`: hyper-util's pooled client (HTTP/2 when ALPN chooses it).
    Tls(Box<client::Client>),
}

/// One upstream server: a pooled client built once, and where to reach it.
#[derive(Clone)]
pub(crate) struct Upstream {
    transport: Transport,
    /// `scheme://host[:port]`, without credentials.
    origin: Arc<str>,
    /// The base URL's path without its trailing `/`; each call appends its own path.
    base_path: Arc<str>,
    /// The base URL's query (`?api-version=…`), sent on every call; empty if none.
    query: Arc<str>,
    /// `host:port`, the only part of the URL that error messages show.
    host: Arc<str>,
    /// `accept`, credentials and the configured headers, sent on every call.
    headers: Arc<HeaderMap>,
    /// The backend's own secrets, scrubbed from every error it produces.
    secrets: Arc<redact::Secrets>,
    pub request_timeout: Duration,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
}

/// What an upstream call sends.
pub(crate) enum Body {
    Json(serde_json::Value),
    Raw(Bytes),
    Empty,
}

/// When the response head is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Streamed: the head comes before the work is done, within the head timeout.
    Streamed,
    /// Whole: the head comes with the finished answer (a non-streamed generation, an
    /// embedding, a model pull without progress), bounded by the request timeout only.
    Whole,
}

/// A response head and its body, not read yet.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ResponseBody,
}

/// A response body, from either transport.
pub(crate) enum ResponseBody {
    Pooled(pool::PooledBody),
    Shared(Incoming),
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ResponseBody::Pooled(body) => std::pin::Pin::new(body).poll_frame(cx),
            ResponseBody::Shared(body) => std::pin::Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Pooled(body) => body.is_end_stream(),
            ResponseBody::Shared(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ResponseBody::Pooled(body) => body.size_hint(),
            ResponseBody::Shared(body) => body.size_hint(),
        }
    }
}

/// A response whose status has not been checked yet, with the call's total deadline.
pub(crate) struct Call {
    pub response: Response,
    pub deadline: Instant,
}

impl Upstream {
    pub fn new(settings: &HttpConfig) -> Result<Self, GatewayError> {
        Self::with_env(settings, proxy::Env::process())
    }

    /// Like `new`, with the proxy variables read through `env`.
    pub(crate) fn with_env(
        settings: &HttpConfig,
        env: proxy::Env<'_>,
    ) -> Result<Self, GatewayError> {
        let base = settings.base_url.trim().trim_end_matches('/');
        let url =
            Url::parse(base).map_err(|e| config_error(format!("invalid url {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!("url {base:?} must be http or https")));
        }
        let (Some(host_name), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(config_error(format!("url {base:?} has no host")));
        };
        let host = format!("{host_name}:{port}");
        // The URL's own authority minus its credentials: `host_str` keeps IPv6 brackets.
        let origin = match url.port() {
            Some(port) => format!("{}://{host_name}:{port}", url.scheme()),
            None => format!("{}://{host_name}", url.scheme()),
        };
        let origin_uri: Uri = origin
            .parse()
            .map_err(|e| config_error(format!("url {base:?}: {e}")))?;

        let mut secrets = redact::Secrets::default();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| config_error("api key contains characters not allowed in a header"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            secrets.add(key);
        } else if let Some(value) = basic_auth(&url) {
            // `http://user:password@host`: the credentials go in a header, never on the wire
            // in the URL and never into a message (which names `host:port` only).
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(password) = url.password() {
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            secrets.add(&decoded);
        }
        for (name, value) in &settings.extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| config_error(format!("invalid header name {name:?}")))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(config_error(format!(
                    "header {name} is set by devassist itself and cannot be configured"
                )));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| config_error(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }

        let route = proxy::route(&origin_uri, &settings.proxy, env)
            .map_err(|e| config_error(format!("backend at {host}: {e}")))?;
        if let proxy::Route::Forward(via) = &route
            && let Some(auth) = &via.auth
        {
            // A forward proxy reads it from every request; a tunnel's goes in the CONNECT.
            headers.insert(PROXY_AUTHORIZATION, auth.clone());
        }
        if let Proxy::Url(proxy_url) = &settings.proxy
            && let Ok(parsed) = Url::parse(proxy_url)
            && let Some(password) = parsed.password()
        {
            secrets.add(&percent_encoding::percent_decode_str(password).decode_utf8_lossy());
        }
        if let Some(via) = route.via() {
            tracing::debug!(backend = %host, proxy = %via.shown, "Upstream reached through a proxy");
        }
        let tls = tls::client_config(settings)
            .map_err(|e| config_error(format!("backend at {host}: {e}")))?;
        let connector = connect::Connector::new(&route, tls, settings.connect_timeout);
        let transport = if url.scheme() == "http" {
            let host_header = match url.port() {
                Some(port) => format!("{host_name}:{port}"),
                None => host_name.to_owned(),
            };
            Transport::Plain {
                pool: pool::Pool::new(
                    connector,
                    origin_uri.clone(),
                    client::MAX_IDLE,
                    client::IDLE_TIMEOUT,
                    client::MAX_BUF,
                ),
                host: HeaderValue::from_str(&host_header)
                    .map_err(|_| config_error(format!("url {base:?}: host is not a header")))?,
                proxied: matches!(route, proxy::Route::Forward(_)),
            }
        } else {
            Transport::Tls(Box::new(client::build(connector)))
        };
        Ok(Self {
            transport,
            origin: origin.into(),
            base_path: url.path().trim_end_matches('/').into(),
            query: url
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
                .into(),
            host: host.into(),
            headers: Arc::new(headers),
            secrets: Arc::new(secrets),
            request_timeout: settings.request_timeout,
            head_timeout: settings.head_timeout,
            idle_timeout: settings.idle_timeout,
        })
    }

    /// The request target of a call to `path`: the base URL's path, `path` and the base
    /// URL's query, after `scheme://host[:port]` when `absolute`.
    fn target(&self, path: &str, absolute: bool) -> String {
        let mut target = String::with_capacity(
            self.origin.len() + self.base_path.len() + path.len() + self.query.len() + 1,
        );
        if absolute {
            target.push_str(&self.origin);
        }
        target.push_str(&self.base_path);
        target.push_str(path);
        if self.base_path.is_empty() && path.is_empty() {
            target.push('/');
        }
        target.push_str(&self.query);
        target
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends one request and waits for the response head: within the head timeout for a
    /// streamed answer, and always within the request timeout.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        answer: Answer,
        ctx: &CallContext,
    ) -> Result<Call, GatewayError> {
        let now = Instant::now();
        let deadline = now + self.request_timeout;
        let head_at = match answer {
            Answer::Streamed => deadline.min(now + self.head_timeout),
            Answer::Whole => deadline,
        };
        let (body, content_type) = match body {
            Body::Json(value) => (
                Bytes::from(serde_json::to_vec(&value).map_err(|e| {
                    GatewayError::new(ErrorKind::Internal, Origin::Gateway, e.to_string())
                        .with_reached(Reached::NotSent)
                })?),
                true,
            ),
            Body::Raw(bytes) => (bytes, true),
            Body::Empty => (Bytes::new(), false),
        };
        let mut request = http::Request::builder()
            .method(method.clone())
            .body(Full::new(body))
            .map_err(|e| {
                config_error(format!("cannot build a request to {}: {e}", self.host))
                    .with_reached(Reached::NotSent)
            })?;
        let headers = request.headers_mut();
        headers.reserve(self.headers.len() + 3);
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        if content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        // An id a client sent may hold bytes a header cannot carry: then it is not forwarded.
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id)
            && !ctx.request_id.is_empty()
        {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        tracing::debug!(backend = %self.host, %method, path, request_id = %ctx.request_id, "Calling upstream");
        let timed_out = |written: bool| {
            let reached = if written {
                Reached::Written
            } else {
                Reached::NotSent
            };
            if head_at < deadline {
                error::head_timeout(&self.host, self.head_timeout, reached)
            } else {
                error::request_timeout(&self.host, self.request_timeout, reached)
            }
        };
        let bad_target = |e: http::uri::InvalidUri| {
            config_error(format!("cannot build a request to {}: {e}", self.host))
                .with_reached(Reached::NotSent)
        };
        let (head, body) = match &self.transport {
            Transport::Plain {
                pool,
                host,
                proxied,
            } => {
                // Origin form (`/v1/chat/completions`), or absolute form for a forward proxy.
                *request.uri_mut() = self.target(path, *proxied).parse().map_err(bad_target)?;
                request
                    .headers_mut()
                    .insert(http::header::HOST, host.clone());
                let handed = std::sync::atomic::AtomicBool::new(false);
                match tokio::time::timeout_at(head_at, pool.send(request, &handed)).await {
                    Ok(Ok(response)) => {
                        let (head, body) = response.into_parts();
                        (head, ResponseBody::Pooled(body))
                    }
                    Ok(Err(failure)) => {
                        return Err(self
                            .secrets
                            .scrub_error(error::pooled(&failure, &self.host)));
                    }
                    Err(_) => {
                        return Err(timed_out(handed.load(std::sync::atomic::Ordering::Relaxed)));
                    }
                }
            }
            Transport::Tls(client) => {
                // Absolute: hyper-util's client connects by it and writes the form it needs.
                *request.uri_mut() = self.target(path, true).parse().map_err(bad_target)?;
                // Tells, if the head never comes, whether the request was handed to a connection.
                let connection = capture_connection(&mut request);
                match tokio::time::timeout_at(head_at, client.request(request)).await {
                    Ok(Ok(response)) => {
                        let (head, body) = response.into_parts();
                        (head, ResponseBody::Shared(body))
                    }
                    Ok(Err(err)) => {
                        return Err(self.secrets.scrub_error(error::transport(&err, &self.host)));
                    }
                    Err(_) => return Err(timed_out(connection.connection_metadata().is_some())),
                }
            }
        };
        Ok(Call {
            response: Response {
                status: head.status,
                headers: head.headers,
                body,
            },
            deadline,
        })
    }

    /// Sends one request and turns a non-2xx answer into an error carrying the upstream's
    /// status and a summary of its message.
    pub async fn send_checked(
        &self,
        method: Method,
        path: &str,
        body: Body,
        answer: Answer,
        ctx: &CallContext,
    ) -> Result<Call, GatewayError> {
        let call = self.send(method, path, body, answer, ctx).await?;
        let status = call.response.status;
        if status.is_success() {
            return Ok(call);
        }
        let deadline = call.deadline;
        let mut reader = pump::BodyReader::new(call.response, self, Some(deadline));
        let mut body = Vec::new();
        // A broken or slow error body still leaves the status to report.
        while body.len() < MAX_ERROR_BODY {
            match reader.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        let err =
            self.secrets
                .scrub_error(error::upstream_status(status.as_u16(), &body, &self.host));
        tracing::debug!(backend = %self.host, status = status.as_u16(), message = %err.message, "Upstream answered an error");
        Err(err)
    }

    /// Reads a whole (bounded) JSON body, for calls that are not streamed.
    pub async fn read_json(
        &self,
        call: Call,
        limit: usize,
    ) -> Result<serde_json::Value, GatewayError> {
        let body = self.read_body(call, limit).await?;
        serde_json::from_slice(&body)
            .map_err(|e| error::malformed(format!("invalid JSON from {}: {e}", self.host)))
    }

    /// Reads a whole body of at most `limit` bytes.
    pub async fn read_body(&self, call: Call, limit: usize) -> Result<Vec<u8>, GatewayError> {
        let mut reader = pump::BodyReader::new(call.response, self, Some(call.deadline));
        let mut body = Vec::new();
        while let Some(chunk) = reader.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(error::malformed(format!(
                    "response body over {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// When a generation's response head is due: streamed requests are streamed upstream.
pub(crate) fn answer(req: &devassist_core::GenerateRequest) -> Answer {
    if req.stream {
        Answer::Streamed
    } else {
        Answer::Whole
    }
}

/// The response's media type, lower-cased, without parameters.
pub(crate) fn media_type(response: &Response) -> Option<String> {
    let value = response.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = value.split(';').next().unwrap_or_default().trim();
    Some(mime.to_ascii_lowercase())
}

/// `Authorization: Basic` from the URL's user and password, percent-decoded.
fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut credentials = decode(url.username());
    credentials.push(b':');
    credentials.extend(decode(url.password().unwrap_or_default()));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn config_error(message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::Internal, Origin::Gateway, message)
}

#[cfg(test)]
mod test_raw;
#[cfg(test)]
mod test_tls;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_proxy;
#[cfg(test)]
mod tests_transport;
