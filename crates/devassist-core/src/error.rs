//! One error type for the whole gateway. The kind → HTTP status mapping lives here and only
//! here; each surface renders the body in its own dialect.

use std::fmt;
use std::time::Duration;

/// What went wrong, coarse enough to pick a status code and a retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    /// Too many requests queued for a backend or the gateway.
    Overloaded,
    /// The backend cannot be reached or is starting (`on_cold = "reject"`).
    BackendUnavailable,
    BackendTimeout,
    /// The backend answered, but with an error or with bytes we cannot read.
    BackendError,
    /// The client went away (Ollama's 499 `request canceled`).
    Cancelled,
    Internal,
}

/// Who caused the error (pingora's `ErrorSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Backend,
    Gateway,
}

/// How far a failed request got towards the upstream. It decides whether the same request
/// may be sent again, to another replica or later: only a request the upstream cannot have
/// acted on is. Set by the transport, which is the only place that knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reached {
    /// Not known (errors made above the transport): treated as possibly acted on.
    #[default]
    Unknown,
    /// The request never left the gateway: no connection (refused, DNS, TLS, connect
    /// timeout), a backend that could not be started, a full queue, a rejected request.
    NotSent,
    /// The upstream answered that it did not take the request (429, 503 before any work).
    Declined,
    /// The request was written, in part or whole, and no answer came back: the upstream may
    /// be running it (a generation that crashed the server, a connection closed mid-way).
    Written,
    /// The upstream started answering and then failed.
    Answered,
}

/// The gateway error. `message` is safe to show a client; `detail` is only logged.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub origin: Origin,
    pub message: String,
    /// The request field the error is about (OpenAI's `param`).
    pub param: Option<String>,
    /// Sent as `Retry-After` when set.
    pub retry_after: Option<Duration>,
    /// Internal detail for logs; never sent to clients.
    pub detail: Option<String>,
    /// Status reported by an upstream, kept so pass-through errors keep their code.
    pub upstream_status: Option<u16>,
    /// How far the request got upstream; see [`Reached`].
    pub reached: Reached,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, origin: Origin, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin,
            message: message.into(),
            param: None,
            retry_after: None,
            detail: None,
            upstream_status: None,
            reached: Reached::Unknown,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, Origin::Client, message)
    }

    /// The exact text Ollama clients (Continue) match on: `model 'x' not found`.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            Origin::Client,
            format!("model '{model}' not found"),
        )
        .with_param("model")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, Origin::Client, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, Origin::Client, message)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, Origin::Gateway, "internal error").with_detail(detail)
    }

    pub fn backend_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BackendUnavailable, Origin::Backend, message)
    }

    pub fn backend_timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BackendTimeout, Origin::Backend, message)
    }

    pub fn backend_error(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BackendError, Origin::Backend, message)
    }

    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Overloaded, Origin::Gateway, message)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn with_upstream_status(mut self, status: u16) -> Self {
        self.upstream_status = Some(status);
        self
    }

    pub fn with_reached(mut self, reached: Reached) -> Self {
        self.reached = reached;
        self
    }

    /// The HTTP status for this error. The only kind → status table in the gateway.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Cancelled => 499,
            ErrorKind::Internal => 500,
            // An upstream that rejected the request's content (bad parameters, unknown model,
            // too large) keeps its status for the client. An upstream 401/403 is the gateway's
            // own credentials failing, not the client's: that is a bad gateway.
            ErrorKind::BackendError => match self.upstream_status {
                Some(s @ (400 | 404 | 409 | 413 | 415 | 422)) => s,
                Some(429) => 429,
                _ => 502,
            },
            ErrorKind::Overloaded | ErrorKind::BackendUnavailable => 503,
            ErrorKind::BackendTimeout => 504,
        }
    }

    /// Whether the same request may be sent again to another replica: the failure is
    /// transient and the upstream cannot have acted on it.
    pub fn may_resend(&self) -> bool {
        self.retryable() && matches!(self.reached, Reached::NotSent | Reached::Declined)
    }

    /// Whether the failure is transient: retrying later or elsewhere can succeed. Says
    /// nothing about whether resending is safe; see [`GatewayError::may_resend`].
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::BackendUnavailable
                | ErrorKind::BackendTimeout
        ) || (self.kind == ErrorKind::BackendError && matches!(self.status(), 429 | 500..))
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_client_errors_keep_their_status() {
        let e = GatewayError::backend_error("bad").with_upstream_status(422);
        assert_eq!(e.status(), 422);
        assert!(!e.retryable());
        let e = GatewayError::backend_error("bad").with_upstream_status(500);
        assert_eq!(e.status(), 502);
        assert!(e.retryable());
        let e = GatewayError::backend_error("denied").with_upstream_status(401);
        assert_eq!(
            e.status(),
            502,
            "the gateway's upstream credentials, not the client's"
        );
    }

    #[test]
    fn only_a_request_the_upstream_cannot_have_run_is_resent() {
        let refused = GatewayError::backend_unavailable("down").with_reached(Reached::NotSent);
        assert!(refused.may_resend());
        let busy = GatewayError::backend_error("busy")
            .with_upstream_status(503)
            .with_reached(Reached::Declined);
        assert!(busy.may_resend());
        let crashed = GatewayError::backend_error("closed").with_reached(Reached::Written);
        assert!(crashed.retryable() && !crashed.may_resend());
        let unknown = GatewayError::backend_timeout("slow");
        assert!(!unknown.may_resend(), "unknown counts as possibly run");
        let bad = GatewayError::bad_request("no").with_reached(Reached::NotSent);
        assert!(!bad.may_resend(), "a client error fails everywhere");
    }

    #[test]
    fn not_found_text_matches_ollama() {
        let e = GatewayError::model_not_found("x:1b");
        assert_eq!(e.message, "model 'x:1b' not found");
        assert_eq!(e.status(), 404);
    }
}
