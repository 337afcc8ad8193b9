//! `POST /api/embed` and the legacy `POST /api/embeddings`.

use super::wire::{self, EmbedBody, LegacyEmbedBody};
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::{Dialect, OllamaDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use devassist_core::Feature;
use devassist_core::{EmbedRequest, GatewayError};
use serde_json::{Value, json};
use std::time::Instant;

pub async fn embed(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<EmbedBody, OllamaDialect>,
) -> Response {
    let start = Instant::now();
    let result = async {
        let model = wire::require_model(b.model)?;
        let input = match b.input {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(GatewayError::bad_request("invalid input type").with_param("input")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(GatewayError::bad_request("invalid input type").with_param("input"));
            }
        };
        let route = st.route(Feature::Embeddings, Requested::Name(&model))?;
        if input.is_empty() {
            return Ok(json!({"model": model, "embeddings": []}));
        }
        let req = EmbedRequest {
            model: model.clone(),
            input,
            dimensions: b.dimensions,
            truncate: b.truncate.unwrap_or(true),
            keep_alive: wire::keep_alive(b.keep_alive)?,
            options: b.options.unwrap_or_default(),
        };
        let ctx = rid.call_context();
        let out = st.embed(&route, req, &ctx).await?;
        Ok(json!({
            "model": model,
            "embeddings": out.embeddings,
            "total_duration": start.elapsed().as_nanos() as u64,
            "load_duration": 0,
            "prompt_eval_count": out.prompt_tokens,
        }))
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => OllamaDialect::error_response(e),
    }
}

pub async fn embeddings(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<LegacyEmbedBody, OllamaDialect>,
) -> Response {
    let result = async {
        let model = wire::require_model(b.model)?;
        let route = st.route(Feature::Embeddings, Requested::Name(&model))?;
        let prompt = b.prompt.unwrap_or_default();
        if prompt.is_empty() {
            return Ok(json!({"embedding": []}));
        }
        let req = EmbedRequest {
            model,
            input: vec![prompt],
            dimensions: None,
            truncate: true,
            keep_alive: wire::keep_alive(b.keep_alive)?,
            options: b.options.unwrap_or_default(),
        };
        let ctx = rid.call_context();
        let out = st.embed(&route, req, &ctx).await?;
        let first = out.embeddings.into_iter().next().unwrap_or_default();
        // The legacy endpoint returns float64 values.
        let wide: Vec<f64> = first.into_iter().map(f64::from).collect();
        Ok(json!({ "embedding": wide }))
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => OllamaDialect::error_response(e),
    }
}
