//! HTTP plumbing shared by the backends that call real upstream servers (`openai`,
//! `ollama`): one pooled client per backend, headers, deadlines, status checks and the
//! body pump that turns upstream bytes into events.
//!
//! It knows nothing about either wire format; that lives in each backend's `stream.rs`.

mod config;
pub(crate) mod error;
mod h1;
pub(crate) mod pump;

use base64::Engine;
use bytes::Bytes;
use devassist_core::{CallContext, ErrorKind, GatewayError, Origin};
use h1::Response;
use http::Method;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

pub use config::HttpConfig;

/// Forwarded correlation id; a static name is not parsed again on every request.
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest error body read back from an upstream to quote its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// One upstream server: a pooled client built once, and where to reach it.
#[derive(Clone)]
pub(crate) struct Upstream {
    client: h1::Client,
    /// The base URL's path without its trailing `/`; each call appends its own path.
    base_path: Arc<str>,
    /// The base URL's query (`?api-version=…`), sent on every call; empty if none.
    query: Arc<str>,
    /// `host:port`, the only part of the URL that error messages show.
    host: Arc<str>,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
}

/// What an upstream call sends.
pub(crate) enum Body {
    Json(serde_json::Value),
    Raw(Bytes),
}

/// A response whose status has not been checked yet, with the call's total deadline.
pub(crate) struct Call {
    pub response: Response,
    pub deadline: Instant,
}

impl Upstream {
    pub fn new(settings: &HttpConfig) -> Result<Self, GatewayError> {
        let base = settings.base_url.trim().trim_end_matches('/');
        let url =
            Url::parse(base).map_err(|e| config_error(format!("invalid url {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(format!("url {base:?} must be http or https")));
        }
        let host = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(config_error(format!("url {base:?} has no host"))),
        };
        let mut headers = HeaderMap::new();
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| config_error("api key contains characters not allowed in a header"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        } else if let Some(value) = basic_auth(&url) {
            // `http://user:password@host`: the credentials go in a header, never on the wire
            // in the URL and never into a message (which names `host:port` only).
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &settings.extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| config_error(format!("invalid header name {name:?}")))?;
            if h1::RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(config_error(format!(
                    "header {name} is set by devassist itself and cannot be configured"
                )));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| config_error(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        let client = h1::Client::new(&url, &headers, settings.connect_timeout)
            .map_err(|e| config_error(format!("url {base:?}: {e}")))?;
        Ok(Self {
            client,
            base_path: url.path().trim_end_matches('/').into(),
            query: url
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
                .into(),
            host: host.into(),
            request_timeout: settings.request_timeout,
            idle_timeout: settings.idle_timeout,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends one request and waits for the response head, within the request timeout.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        ctx: &CallContext,
    ) -> Result<Call, GatewayError> {
        let deadline = Instant::now() + self.request_timeout;
        let target = format!("{}{path}{}", self.base_path, self.query);
        let body = match body {
            Body::Json(value) => Bytes::from(serde_json::to_vec(&value).map_err(|e| {
                GatewayError::new(ErrorKind::Internal, Origin::Gateway, e.to_string())
            })?),
            Body::Raw(bytes) => bytes,
        };
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // An id a client sent may hold bytes a header cannot carry: then it is not forwarded.
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id)
            && !ctx.request_id.is_empty()
        {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        let request = h1::Request {
            method: &method,
            target: &target,
            headers: &headers,
            body: &body,
        };
        tracing::debug!(backend = %self.host, %method, path, request_id = %ctx.request_id, "Calling upstream");
        match tokio::time::timeout_at(deadline, self.client.send(&request)).await {
            Ok(Ok(response)) => Ok(Call { response, deadline }),
            Ok(Err(err)) => Err(error::transport(&err, &self.host)),
            Err(_) => Err(error::request_timeout(&self.host, self.request_timeout)),
        }
    }

    /// Sends one request and turns a non-2xx answer into an error carrying the upstream's
    /// status and message.
    pub async fn send_checked(
        &self,
        method: Method,
        path: &str,
        body: Body,
        ctx: &CallContext,
    ) -> Result<Call, GatewayError> {
        let call = self.send(method, path, body, ctx).await?;
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
        let err = error::upstream_status(status.as_u16(), &body, &self.host);
        tracing::debug!(backend = %self.host, status = status.as_u16(), message = %err.message, "Upstream answered an error");
        Err(err)
    }

    /// Reads a whole (bounded) JSON body, for calls that are not streamed.
    pub async fn read_json(
        &self,
        call: Call,
        limit: usize,
    ) -> Result<serde_json::Value, GatewayError> {
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
        serde_json::from_slice(&body)
            .map_err(|e| error::malformed(format!("invalid JSON from {}: {e}", self.host)))
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
mod tests;
