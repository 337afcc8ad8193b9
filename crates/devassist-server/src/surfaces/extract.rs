//! `WireJson<T, D>`: a JSON body extractor whose rejections are rendered in dialect `D`,
//! with the configured body limit (413) and the failing field's path in the message.

use super::dialect::Dialect;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use devassist_core::{ErrorKind, GatewayError, Origin};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

pub struct WireJson<T, D>(pub T, pub PhantomData<D>);

impl<T, D> FromRequest<AppState> for WireJson<T, D>
where
    T: DeserializeOwned + Send,
    D: Dialect,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let limit = state.max_body_bytes;
        let bytes = read_body(req, limit).await.map_err(D::error_response)?;
        parse(&bytes)
            .map(|v| WireJson(v, PhantomData))
            .map_err(D::error_response)
    }
}

/// Reads the body up to `limit` bytes; larger bodies are a 413.
pub async fn read_body(req: Request, limit: usize) -> Result<bytes::Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            ErrorKind::PayloadTooLarge,
            Origin::Client,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let is_limit =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if is_limit {
                too_large()
            } else {
                GatewayError::bad_request(format!("cannot read request body: {e}"))
            }
        })
}

/// Parses JSON, naming the field that failed.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::bad_request("missing request body"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON: {inner}")
        } else if path == "." {
            format!("invalid request: {inner}")
        } else {
            format!("invalid value for `{path}`: {inner}")
        };
        let err = GatewayError::bad_request(what);
        if path != "." {
            err.with_param(path)
        } else {
            err
        }
    })
}
