//! GitLab's error bodies (reference §14): FastAPI's `{"detail": …}`, the 422 list for bodies
//! that fail validation, `{"error": …}` for authentication, 503 `Inference failed` for any
//! model failure, and Starlette's plain-text 500.

use super::validate::Issue;
use crate::surfaces::Dialect;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use devassist_core::{ErrorKind, GatewayError, Origin};
use serde_json::json;
use std::sync::Arc;

/// What a model failure looks like to GitLab, whatever went wrong upstream: the gateway
/// never tells a client why an upstream failed.
pub const INFERENCE_FAILED: &str = "Inference failed";

pub struct GitLabDialect;

impl GitLabDialect {
    /// Status and body for an error, in GitLab's words.
    fn status_and_body(err: &GatewayError) -> (StatusCode, Option<serde_json::Value>) {
        match err.kind {
            // A request the gateway cannot serve as written: FastAPI's handler-raised 422.
            ErrorKind::BadRequest => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(json!({"detail": err.message})),
            ),
            ErrorKind::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                Some(json!({"error": err.message})),
            ),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, Some(json!({"detail": err.message}))),
            ErrorKind::NotFound if err.origin == Origin::Client => {
                (StatusCode::NOT_FOUND, Some(json!({"detail": err.message})))
            }
            ErrorKind::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                Some(json!({"detail": "Method Not Allowed"})),
            ),
            ErrorKind::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(json!({"detail": err.message})),
            ),
            ErrorKind::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                Some(json!({"detail": "Too many requests. Please try again later."})),
            ),
            ErrorKind::Cancelled => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                Some(json!({"detail": "request canceled"})),
            ),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, None),
            // The model could not answer: unreachable, starting, overloaded, timed out, or
            // answered with an error. GitLab says 503 `Inference failed` for all of them.
            ErrorKind::NotFound
            | ErrorKind::Overloaded
            | ErrorKind::BackendUnavailable
            | ErrorKind::BackendTimeout
            | ErrorKind::BackendError => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(json!({"detail": INFERENCE_FAILED})),
            ),
        }
    }
}

impl Dialect for GitLabDialect {
    fn body(err: &GatewayError) -> serde_json::Value {
        Self::status_and_body(err)
            .1
            .unwrap_or_else(|| json!({"detail": "Internal Server Error"}))
    }

    fn error_response(err: GatewayError) -> Response {
        let (status, body) = Self::status_and_body(&err);
        let mut resp = match body {
            Some(body) => (status, axum::Json(body)).into_response(),
            // Starlette's default for an unhandled exception.
            None => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Internal Server Error",
            )
                .into_response(),
        };
        if let Some(after) = err.retry_after
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(Arc::new(err));
        resp
    }
}

/// FastAPI's 422 for a body that fails validation: `{"detail": [issues]}`.
pub fn validation_response(issues: Vec<Issue>) -> Response {
    let summary = issues
        .iter()
        .map(|i| format!("{}: {}", loc_text(i), i.msg))
        .collect::<Vec<_>>()
        .join("; ");
    #[derive(serde::Serialize)]
    struct Detail {
        detail: Vec<Issue>,
    }
    let mut resp = (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(Detail { detail: issues }),
    )
        .into_response();
    // For the access log only: the client gets the list above.
    resp.extensions_mut()
        .insert(Arc::new(GatewayError::bad_request(summary)));
    resp
}

fn loc_text(issue: &Issue) -> String {
    serde_json::to_value(&issue.loc)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|s| match s {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A rejected request: a validation failure (422 list) or any other gateway error.
pub enum Rejection {
    Invalid(Vec<Issue>),
    Error(GatewayError),
}

impl From<GatewayError> for Rejection {
    fn from(e: GatewayError) -> Self {
        Rejection::Error(e)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Invalid(issues) => validation_response(issues),
            Rejection::Error(e) => GitLabDialect::error_response(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(resp: Response) -> (u16, String) {
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn every_model_failure_is_inference_failed() {
        for err in [
            GatewayError::backend_unavailable("connection refused to http://10.0.0.1"),
            GatewayError::backend_timeout("slow"),
            GatewayError::backend_error("upstream said 500").with_upstream_status(500),
            GatewayError::backend_error("upstream said 400").with_upstream_status(400),
            GatewayError::overloaded("queue full"),
        ] {
            let (status, body) = body_of(GitLabDialect::error_response(err)).await;
            assert_eq!(status, 503);
            assert_eq!(body, r#"{"detail":"Inference failed"}"#);
        }
    }

    #[tokio::test]
    async fn client_errors_keep_their_message() {
        let (status, body) = body_of(GitLabDialect::error_response(GatewayError::forbidden(
            "feature code_completion is disabled",
        )))
        .await;
        assert_eq!(
            (status, body.as_str()),
            (403, r#"{"detail":"feature code_completion is disabled"}"#)
        );
        let (status, body) = body_of(GitLabDialect::error_response(GatewayError::internal(
            "boom",
        )))
        .await;
        assert_eq!((status, body.as_str()), (500, "Internal Server Error"));
        let (status, body) = body_of(GitLabDialect::error_response(GatewayError::unauthorized(
            "No authorization header presented",
        )))
        .await;
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"error":"No authorization header presented"}"#)
        );
    }
}
