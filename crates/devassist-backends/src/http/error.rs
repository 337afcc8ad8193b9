//! How upstream failures become `GatewayError`s, the same way for every HTTP backend.
//!
//! Messages name the backend by host and port only: never the full URL (it may carry
//! credentials) and never the api key. Transport detail goes to `detail`, which is logged
//! and not sent to clients.

use super::h1::Error;
use devassist_core::{GatewayError, Reached};
use serde_json::Value;
use std::time::Duration;

/// The text every backend uses for bytes it cannot read (the mock's `garbage` mode too).
pub const MALFORMED: &str = "upstream sent a malformed response";

/// Longest upstream error body quoted back in a message.
const MAX_QUOTED: usize = 1000;

pub fn malformed(detail: impl Into<String>) -> GatewayError {
    GatewayError::backend_error(MALFORMED).with_detail(detail)
}

pub fn truncated(host: &str) -> GatewayError {
    GatewayError::backend_error(format!(
        "backend at {host} closed the stream before it finished"
    ))
}

pub fn idle_timeout(host: &str, idle: Duration) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "backend at {host} sent nothing for {}s",
        idle.as_secs_f64()
    ))
}

pub fn request_timeout(host: &str, total: Duration) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "backend at {host} did not finish within {}s",
        total.as_secs_f64()
    ))
}

/// A transport error, before or during the body, with how far the request got.
pub fn transport(err: &Error, host: &str) -> GatewayError {
    let reached = match err {
        Error::Connect(_) | Error::ConnectTimeout => Reached::NotSent,
        Error::Send(_) | Error::Closed(_) => Reached::Written,
        Error::Read(_) | Error::Incomplete | Error::Malformed(_) => Reached::Answered,
    };
    describe(err, host).with_reached(reached)
}

fn describe(err: &Error, host: &str) -> GatewayError {
    // Messages name `host:port` only: URL credentials travel in a header and never reach
    // the error (`credentials_in_the_url_never_reach_the_error`).
    let detail = err.to_string();
    match err {
        Error::Connect(_) => {
            GatewayError::backend_error(format!("cannot connect to backend at {host}"))
                .with_detail(detail)
        }
        Error::ConnectTimeout => {
            GatewayError::backend_timeout(format!("connecting to backend at {host} timed out"))
                .with_detail(detail)
        }
        Error::Send(_) | Error::Closed(_) => {
            GatewayError::backend_error(format!("request to backend at {host} failed"))
                .with_detail(detail)
        }
        Error::Read(_) | Error::Incomplete => {
            GatewayError::backend_error(format!("connection to backend at {host} broke"))
                .with_detail(detail)
        }
        Error::Malformed(what) => malformed(format!("from {host}: {what}")),
    }
}

/// A non-2xx answer: keep the status and the upstream's own message.
pub fn upstream_status(status: u16, body: &[u8], host: &str) -> GatewayError {
    // 429 and 503 are how servers turn a request away before working on it.
    let reached = match status {
        429 | 503 => Reached::Declined,
        _ => Reached::Answered,
    };
    GatewayError::backend_error(status_message(status, body))
        .with_upstream_status(status)
        .with_reached(reached)
        .with_detail(format!("backend at {host} answered {status}"))
}

fn status_message(status: u16, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if let Some(message) = parsed.as_ref().and_then(message_of) {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("backend answered HTTP {status}");
    }
    quote(text)
}

/// The message of an error body or an in-stream error object, in any of the shapes
/// upstreams use: `{"error":"..."}` (Ollama, TGI), `{"error":{"message":...}}` (OpenAI,
/// vLLM, llama-server), `{"message":...}` (older vLLM), `{"detail":...}` (FastAPI).
pub fn message_of(value: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(quote(s.trim())),
        _ => None,
    };
    match value.get("error") {
        Some(Value::Object(obj)) => obj
            .get("message")
            .and_then(text)
            .or_else(|| serde_json::to_string(obj).ok().map(|s| quote(&s))),
        Some(other @ Value::String(_)) => text(other),
        Some(Value::Null) | None => value
            .get("message")
            .and_then(text)
            .or_else(|| value.get("detail").and_then(text)),
        Some(other) => Some(quote(&other.to_string())),
    }
}

/// The status an in-stream error object reports (`{"error":{"code":400}}`), if any.
pub fn status_of(value: &Value) -> Option<u16> {
    let code = value
        .get("error")
        .and_then(|e| e.get("code"))
        .or_else(|| value.get("code"))?;
    let code = code.as_u64()?;
    u16::try_from(code).ok().filter(|c| (400..600).contains(c))
}

/// An error object that arrived inside a 2xx stream.
pub fn in_stream(value: &Value) -> GatewayError {
    let message = message_of(value).unwrap_or_else(|| "backend reported an error".to_owned());
    let err = GatewayError::backend_error(message);
    match status_of(value) {
        Some(status) => err.with_upstream_status(status),
        None => err,
    }
}

fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTED {
        return text.to_owned();
    }
    let mut end = MAX_QUOTED;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_in_every_upstream_shape() {
        let cases = [
            (
                json!({"error": "model 'x' not found"}),
                "model 'x' not found",
            ),
            (
                json!({"error": {"message": "too long", "type": "BadRequestError"}}),
                "too long",
            ),
            (json!({"object": "error", "message": "bad"}), "bad"),
            (json!({"detail": "Not Found"}), "Not Found"),
        ];
        for (value, want) in cases {
            assert_eq!(message_of(&value).as_deref(), Some(want), "{value}");
        }
        assert_eq!(message_of(&json!({"ok": true})), None);
    }

    #[test]
    fn non_json_error_body_is_quoted_raw() {
        let err = upstream_status(503, b"<html>busy</html>", "h:1");
        assert_eq!(err.message, "<html>busy</html>");
        assert_eq!(err.upstream_status, Some(503));
        let err = upstream_status(500, b"", "h:1");
        assert_eq!(err.message, "backend answered HTTP 500");
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(2000);
        let err = upstream_status(500, body.as_bytes(), "h:1");
        assert!(err.message.len() <= MAX_QUOTED + '…'.len_utf8());
        assert!(err.message.ends_with('…'));
    }

    #[test]
    fn in_stream_error_keeps_a_client_status() {
        let err = in_stream(&json!({"error": {"message": "bad", "code": 400}}));
        assert_eq!(err.status(), 400);
        let err = in_stream(&json!({"error": "boom"}));
        assert_eq!(err.status(), 502);
    }
}
