//! Error bodies per dialect. The status comes from `GatewayError::status`; the error is
//! attached to the response extensions so the access log can record the internal detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use devassist_core::{ErrorKind, GatewayError};
use serde_json::json;
use std::sync::Arc;

pub trait Dialect: Send + Sync + 'static {
    /// The error as a JSON body in this dialect.
    fn body(err: &GatewayError) -> serde_json::Value;

    fn error_response(err: GatewayError) -> Response {
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(Self::body(&err))).into_response();
        if let Some(after) = err.retry_after {
            let secs = after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp.extensions_mut().insert(Arc::new(err));
        resp
    }
}

/// Ollama: `{"error": "<message>"}`.
pub struct OllamaDialect;

impl Dialect for OllamaDialect {
    fn body(err: &GatewayError) -> serde_json::Value {
        let message = match err.kind {
            ErrorKind::Cancelled => "request canceled",
            _ => &err.message,
        };
        json!({ "error": message })
    }
}

/// OpenAI: `{"error": {"message", "type", "param", "code"}}`.
pub struct OpenAiDialect;

impl OpenAiDialect {
    pub fn error_type(err: &GatewayError) -> &'static str {
        match err.status() {
            400 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }

    fn code(err: &GatewayError) -> Option<&'static str> {
        match err.kind {
            ErrorKind::NotFound if err.param.as_deref() == Some("model") => Some("model_not_found"),
            ErrorKind::PayloadTooLarge => Some("request_too_large"),
            ErrorKind::Overloaded => Some("overloaded"),
            ErrorKind::BackendTimeout => Some("timeout"),
            _ => None,
        }
    }
}

impl Dialect for OpenAiDialect {
    fn body(err: &GatewayError) -> serde_json::Value {
        Self::body_of(err)
    }
}

impl OpenAiDialect {
    pub fn body_of(err: &GatewayError) -> serde_json::Value {
        json!({ "error": {
            "message": err.message,
            "type": Self::error_type(err),
            "param": err.param,
            "code": Self::code(err),
        }})
    }
}

/// The API a request path belongs to, for answers given before or without a surface's
/// handler (the server-wide in-flight cap; fallbacks): the one place that maps a path to a
/// dialect. Paths no surface owns get OpenAI's shape, the one most clients understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Anthropic,
    Ollama,
    OpenAi,
    GitLab,
}

impl Surface {
    /// The API's name in metrics and usage records.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Anthropic => "anthropic",
            Surface::Ollama => "ollama",
            Surface::OpenAi => "openai",
            Surface::GitLab => "gitlab",
        }
    }

    pub fn for_path(path: &str) -> Surface {
        // GitLab's AI Gateway routes (surfaces/gitlab/mod.rs), some of them under `/v1/`.
        let gitlab = [
            "/v2/",
            "/v3/",
            "/v4/",
            "/monitoring/",
            "/v1/search/gitlab-docs",
            "/v1/code/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
            || path
                .strip_prefix("/v1/chat/")
                .is_some_and(|rest| rest != "completions");
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Surface::Anthropic
        } else if gitlab {
            Surface::GitLab
        } else if path.starts_with("/v1/") {
            Surface::OpenAi
        } else if path == "/" || path.starts_with("/api/") {
            Surface::Ollama
        } else {
            Surface::OpenAi
        }
    }

    /// `err` in this surface's dialect.
    pub fn error_response(self, err: GatewayError) -> Response {
        match self {
            Surface::Anthropic => crate::surfaces::anthropic::AnthropicDialect::error_response(err),
            Surface::Ollama => OllamaDialect::error_response(err),
            Surface::OpenAi => OpenAiDialect::error_response(err),
            Surface::GitLab => crate::surfaces::gitlab::GitLabDialect::error_response(err),
        }
    }
}

#[cfg(test)]
mod surface_tests {
    use super::Surface;

    #[test]
    fn every_path_has_one_dialect() {
        for (path, surface) in [
            ("/", Surface::Ollama),
            ("/api/generate", Surface::Ollama),
            ("/api/chat", Surface::Ollama),
            ("/v1/chat/completions", Surface::OpenAi),
            ("/v1/completions", Surface::OpenAi),
            ("/v1/responses", Surface::OpenAi),
            ("/v1/embeddings", Surface::OpenAi),
            ("/v1/models/some/model", Surface::OpenAi),
            ("/v1/search/docs", Surface::OpenAi),
            ("/v1/chat/agent", Surface::GitLab),
            ("/v1/chat/documentation", Surface::GitLab),
            ("/v1/search/gitlab-docs", Surface::GitLab),
            ("/v1/code/user_access_token", Surface::GitLab),
            ("/v2/code/completions", Surface::GitLab),
            ("/v3/code/completions", Surface::GitLab),
            ("/v4/code/suggestions", Surface::GitLab),
            ("/monitoring/healthz", Surface::GitLab),
            ("/v1/messages", Surface::Anthropic),
            ("/v1/messages/count_tokens", Surface::Anthropic),
            ("/v1/messagesx", Surface::OpenAi),
            ("/nowhere", Surface::OpenAi),
        ] {
            assert_eq!(Surface::for_path(path), surface, "{path}");
        }
    }
}
