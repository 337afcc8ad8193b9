//! `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape, for requests that
//! carry `anthropic-version` (the OpenAI surface's handlers dispatch here). Besides the
//! models, the list names each alias that starts with `claude` or `anthropic` and is not a
//! pattern: Claude Code's gateway model discovery lists only such ids.

use super::dialect::AnthropicDialect;
use crate::pipeline::guard;
use crate::router::ModelEntry;
use crate::state::AppState;
use crate::surfaces::Dialect;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use devassist_core::{Caller, GatewayError};
use serde::Deserialize;
use serde_json::{Value, json};

/// Whether a request speaks Anthropic's API.
pub fn is_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// Anthropic's pagination query.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    pub limit: Option<usize>,
    pub after_id: Option<String>,
    pub before_id: Option<String>,
}

fn entry(id: &str, m: &ModelEntry) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": id,
        "created_at": m.info.modified_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "lifecycle": "active",
        "max_input_tokens": m.settings.context_length,
    })
}

/// Every id the list shows the caller, each with its model: only models it may use.
fn ids<'a>(st: &'a AppState, caller: Option<&Caller>) -> Vec<(String, &'a ModelEntry)> {
    let mut out = Vec::new();
    for (i, m) in st.router.models().iter().enumerate() {
        if caller.is_some_and(|c| !guard::may_use(c, m)) {
            continue;
        }
        out.push((m.settings.name.clone(), m.as_ref()));
        for a in st.router.exact_aliases(i) {
            let lower = a.to_ascii_lowercase();
            if lower.starts_with("claude") || lower.starts_with("anthropic") {
                out.push((a.to_owned(), m.as_ref()));
            }
        }
    }
    out
}

pub fn list(st: &AppState, caller: Option<&Caller>, page: Page) -> Response {
    let all = ids(st, caller);
    let limit = page.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return AnthropicDialect::error_response(
            GatewayError::bad_request("limit: must be between 1 and 1000").with_param("limit"),
        );
    }
    let position = |id: &str| all.iter().position(|(n, _)| n == id);
    let (start, end) = match (page.after_id.as_deref(), page.before_id.as_deref()) {
        (Some(after), _) => {
            let start = position(after).map_or(all.len(), |i| i + 1);
            (start, (start + limit).min(all.len()))
        }
        (None, Some(before)) => {
            let end = position(before).unwrap_or(0);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(all.len())),
    };
    let window = &all[start..end];
    let has_more = if page.before_id.is_some() && page.after_id.is_none() {
        start > 0
    } else {
        end < all.len()
    };
    let data: Vec<Value> = window.iter().map(|(id, m)| entry(id, m)).collect();
    axum::Json(json!({
        "data": data,
        "has_more": has_more,
        "first_id": window.first().map(|(id, _)| id),
        "last_id": window.last().map(|(id, _)| id),
    }))
    .into_response()
}

pub fn one(st: &AppState, caller: Option<&Caller>, id: &str) -> Response {
    match guard::resolve_visible(&st.router, caller, id) {
        Ok(m) => axum::Json(entry(id, &m)).into_response(),
        Err(e) => AnthropicDialect::error_response(e),
    }
}
