//! `POST /v1/embeddings`.

use super::wire::{self, EmbeddingsBody};
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::{Dialect, OpenAiDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use devassist_core::Feature;
use devassist_core::{EmbedRequest, GatewayError};
use serde_json::{Value, json};

pub async fn embeddings(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<EmbeddingsBody, OpenAiDialect>,
) -> Response {
    match run(st, rid, b).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => OpenAiDialect::error_response(e),
    }
}

async fn run(st: AppState, rid: RequestId, b: EmbeddingsBody) -> Result<Value, GatewayError> {
    let model = wire::require_model(b.model)?;
    let base64 = match b.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(GatewayError::bad_request(format!(
                "Invalid value for 'encoding_format' = {other}. Supported values: ['float', 'base64']."
            ))
            .with_param("encoding_format"));
        }
    };
    let bad_input = || {
        GatewayError::bad_request("input must be a string or an array of strings")
            .with_param("input")
    };
    let input: Vec<String> = match b.input {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad_input()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad_input()),
    };
    if input.is_empty() || input.iter().any(String::is_empty) {
        return Err(GatewayError::bad_request("input must not be empty").with_param("input"));
    }
    let route = st.route(Feature::Embeddings, Requested::Name(&model))?;
    let req = EmbedRequest {
        model: model.clone(),
        input,
        dimensions: b.dimensions,
        truncate: true,
        keep_alive: None,
        options: Default::default(),
    };
    let ctx = rid.call_context();
    let out = st.embed(&route, req, &ctx).await?;
    let data: Vec<Value> = out
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = e.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(b64(&bytes))
            } else {
                json!(e)
            };
            json!({"object": "embedding", "embedding": embedding, "index": i})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": out.prompt_tokens, "total_tokens": out.prompt_tokens},
    }))
}

/// Standard base64 with padding.
fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::b64(b""), "");
        assert_eq!(super::b64(b"f"), "Zg==");
        assert_eq!(super::b64(b"fo"), "Zm8=");
        assert_eq!(super::b64(b"foobar"), "Zm9vYmFy");
    }
}
