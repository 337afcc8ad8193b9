//! How upstream failures become `GatewayError`s, the same way for every HTTP backend, each
//! with how far the request got (`Reached`), which decides whether it may be sent again.
//!
//! Messages name the backend by host and port only: never the full URL (it may carry
//! credentials) and never the api key. Transport detail goes to `detail`, which is logged
//! and not sent to clients. What an upstream says about an error is summarised (one short
//! line, credentials redacted), never passed on whole.

use super::connect::{ConnectTimeout, ProxyFailed};
use super::redact;
use devassist_core::{GatewayError, Reached};
use serde_json::Value;
use std::time::Duration;

/// The text every backend uses for bytes it cannot read (the mock's `garbage` mode too).
pub const MALFORMED: &str = "upstream sent a malformed response";

/// Bytes from the upstream that cannot be read: it answered, with something else.
pub fn malformed(detail: impl Into<String>) -> GatewayError {
    GatewayError::backend_error(MALFORMED)
        .with_detail(detail)
        .with_reached(Reached::Answered)
}

pub fn truncated(host: &str) -> GatewayError {
    GatewayError::backend_error(format!(
        "backend at {host} closed the stream before it finished"
    ))
    .with_reached(Reached::Answered)
}

pub fn idle_timeout(host: &str, idle: Duration) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "backend at {host} sent nothing for {}s",
        idle.as_secs_f64()
    ))
    .with_reached(Reached::Answered)
}

/// The whole call ran out of time; `reached` says where it was.
pub fn request_timeout(host: &str, total: Duration, reached: Reached) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "backend at {host} did not finish within {}s",
        total.as_secs_f64()
    ))
    .with_reached(reached)
}

/// No response head came within the head timeout.
pub fn head_timeout(host: &str, limit: Duration, reached: Reached) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "backend at {host} sent no response within {}s",
        limit.as_secs_f64()
    ))
    .with_reached(reached)
}

/// A failure of the request, before any response head (hyper-util's client).
pub fn transport(err: &hyper_util::client::legacy::Error, host: &str) -> GatewayError {
    // Messages name `host:port` only: URL credentials travel in a header and never reach
    // the error (`credentials_in_the_url_never_reach_the_error`).
    if err.is_connect() {
        return connect(err, host);
    }
    match sources(err).find_map(|e| e.downcast_ref::<hyper::Error>()) {
        // hyper hands a request back as canceled only when it never began to write it.
        Some(h) => exchange(h, h.is_canceled(), host),
        None => exchange_failed(chain(err), Reached::Written, host),
    }
}

/// A failure of the request on a pooled plain-HTTP connection (`pool`).
pub(super) fn pooled(failure: &super::pool::Failure, host: &str) -> GatewayError {
    match failure {
        super::pool::Failure::Connect(err) => connect(&**err, host),
        super::pool::Failure::Http { err, written } => exchange(err, !written, host),
    }
}

/// No connection could be made: nothing was sent.
fn connect(err: &(dyn std::error::Error + 'static), host: &str) -> GatewayError {
    let timed_out = sources(err).any(|e| {
        e.is::<ConnectTimeout>()
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    let tunnel = sources(err).any(|e| e.is::<ProxyFailed>());
    let gateway_err = if timed_out {
        GatewayError::backend_timeout(format!("connecting to backend at {host} timed out"))
    } else if tunnel {
        GatewayError::backend_error(format!(
            "cannot connect to backend at {host} through the proxy"
        ))
    } else {
        GatewayError::backend_error(format!("cannot connect to backend at {host}"))
    };
    gateway_err
        .with_detail(chain(err))
        .with_reached(Reached::NotSent)
}

/// hyper's error on a connection; `unsent` when hyper handed the request back unwritten.
fn exchange(err: &hyper::Error, unsent: bool, host: &str) -> GatewayError {
    let detail = chain(err);
    if sources(err).any(refused_tls_session) {
        // TLS 1.3 checks a client certificate after the client's side of the handshake is
        // done: the refusal arrives as the answer to the request, whose bytes the upstream
        // discarded unread.
        return GatewayError::backend_error(format!(
            "backend at {host} refused the TLS session (is a client certificate needed?)"
        ))
        .with_detail(detail)
        .with_reached(Reached::NotSent);
    }
    if unsent {
        return GatewayError::backend_error(format!("request to backend at {host} failed"))
            .with_detail(detail)
            .with_reached(Reached::NotSent);
    }
    if err.is_parse() {
        // Bytes came back that are not HTTP: the upstream read the request.
        return malformed(format!("from {host}: {detail}"));
    }
    exchange_failed(detail, Reached::Written, host)
}

fn exchange_failed(detail: String, reached: Reached, host: &str) -> GatewayError {
    GatewayError::backend_error(format!(
        "backend at {host} closed the connection without answering"
    ))
    .with_detail(detail)
    .with_reached(reached)
}

/// A failure while reading the body, after the response head.
pub fn body(err: &hyper::Error, host: &str) -> GatewayError {
    let detail = chain(err);
    let err = if err.is_parse() {
        malformed(format!("from {host}: {detail}"))
    } else {
        GatewayError::backend_error(format!("connection to backend at {host} broke"))
            .with_detail(detail)
    };
    err.with_reached(Reached::Answered)
}

/// A non-2xx answer: the status, and a summary of the upstream's own message. 429 and 503
/// say the upstream did not take the request; anything else may have been acted on.
pub fn upstream_status(status: u16, body: &[u8], host: &str) -> GatewayError {
    let message = status_message(status, body);
    let reached = match status {
        429 | 503 => Reached::Declined,
        _ => Reached::Answered,
    };
    GatewayError::backend_error(message.clone())
        .with_upstream_status(status)
        .with_detail(format!("backend at {host} answered {status}: {message}"))
        .with_reached(reached)
}

fn status_message(status: u16, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if let Some(message) = parsed.as_ref().and_then(message_of) {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text = redact::summary(&text);
    if text.is_empty() {
        return format!("backend answered HTTP {status}");
    }
    text
}

/// The message of an error body or an in-stream error object, in any of the shapes
/// upstreams use: `{"error":"..."}` (Ollama, TGI), `{"error":{"message":...}}` (OpenAI,
/// vLLM, llama-server), `{"message":...}` (older vLLM), `{"detail":...}` (FastAPI).
/// Summarised: one short line, credentials redacted.
pub fn message_of(value: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(redact::summary(s)),
        _ => None,
    };
    match value.get("error") {
        Some(Value::Object(obj)) => obj
            .get("message")
            .and_then(text)
            .or_else(|| serde_json::to_string(obj).ok().map(|s| redact::summary(&s))),
        Some(other @ Value::String(_)) => text(other),
        Some(Value::Null) | None => value
            .get("message")
            .and_then(text)
            .or_else(|| value.get("detail").and_then(text)),
        Some(other) => Some(redact::summary(&other.to_string())),
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
    let err = GatewayError::backend_error(message).with_reached(Reached::Answered);
    match status_of(value) {
        Some(status) => err.with_upstream_status(status),
        None => err,
    }
}

/// A TLS alert by which the upstream refused the session: nothing sent inside it was read.
fn refused_tls_session(err: &(dyn std::error::Error + 'static)) -> bool {
    use tokio_rustls::rustls::{AlertDescription as A, Error as Tls};
    let tls = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<Tls>());
    matches!(
        tls,
        Some(Tls::AlertReceived(
            A::CertificateRequired
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::HandshakeFailure
        ))
    )
}

/// The error and its causes, as one line for `detail`.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    redact::summary(&out)
}

fn sources<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn std::error::Error + 'static)| {
        (*e).source()
    })
}

#[cfg(test)]
mod tests {
    use super::redact::MAX_LEN as MAX_QUOTED;
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

    #[test]
    fn declined_answers_may_be_resent_others_not() {
        for (status, reached) in [
            (429, Reached::Declined),
            (503, Reached::Declined),
            (500, Reached::Answered),
            (502, Reached::Answered),
            (400, Reached::Answered),
        ] {
            let err = upstream_status(status, b"{}", "h:1");
            assert_eq!(err.reached, reached, "{status}");
        }
        assert!(upstream_status(503, b"", "h:1").may_resend());
        assert!(!upstream_status(500, b"", "h:1").may_resend());
    }

    #[test]
    fn error_bodies_are_one_short_line_without_credentials() {
        let body = format!(
            "{{\"error\":{{\"message\":\"bad request\\nheaders: authorization: Bearer sk-live-abcdefgh12345678 {}\"}}}}",
            "x".repeat(500)
        );
        let err = upstream_status(400, body.as_bytes(), "h:1");
        assert!(!err.message.contains("abcdefgh12345678"), "{}", err.message);
        assert!(!err.message.contains('\n'));
        assert!(err.message.len() <= MAX_QUOTED + '…'.len_utf8());
        let detail = err.detail.unwrap_or_default();
        assert!(!detail.contains("abcdefgh12345678"), "{detail}");
    }
}
