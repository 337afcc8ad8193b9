//! Anthropic's error shape: `{"type":"error","error":{"type":…,"message":…}}`, with its
//! statuses. The one difference from the gateway's status table: an overloaded gateway
//! answers 529 `overloaded_error`, as Anthropic does (its SDKs retry it).

use crate::surfaces::Dialect;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use devassist_core::{ErrorKind, GatewayError};
use serde_json::json;
use std::sync::Arc;

/// Anthropic's status for "overloaded".
pub const OVERLOADED: u16 = 529;

pub struct AnthropicDialect;

impl AnthropicDialect {
    pub fn status(err: &GatewayError) -> u16 {
        match err.kind {
            ErrorKind::Overloaded => OVERLOADED,
            _ => err.status(),
        }
    }

    pub fn error_type(err: &GatewayError) -> &'static str {
        match Self::status(err) {
            400 | 405 | 409 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            OVERLOADED => "overloaded_error",
            _ => "api_error",
        }
    }

    pub fn body_of(err: &GatewayError) -> serde_json::Value {
        json!({
            "type": "error",
            "error": {"type": Self::error_type(err), "message": err.message},
        })
    }
}

impl Dialect for AnthropicDialect {
    fn body(err: &GatewayError) -> serde_json::Value {
        Self::body_of(err)
    }

    fn error_response(err: GatewayError) -> Response {
        let status =
            StatusCode::from_u16(Self::status(&err)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(Self::body_of(&err))).into_response();
        if let Some(after) = err.retry_after
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(Arc::new(err));
        resp
    }
}
