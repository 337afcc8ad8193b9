//! `/api/pull|push|create|copy|delete`: passed through when the model's backend is an
//! Ollama server; otherwise a clear error, because the model is defined by devassist's
//! configuration.

use crate::guard::RequestId;
use crate::state::AppState;
use crate::surfaces::extract::{parse, read_body};
use crate::surfaces::{Dialect, OllamaDialect};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use devassist_core::{CallContext, GatewayError, ManageOp};
use futures::StreamExt;
use serde_json::{Map, Value};

pub async fn pull(st: State<AppState>, req: Request) -> Response {
    run(st, ManageOp::Pull, req).await
}
pub async fn push(st: State<AppState>, req: Request) -> Response {
    run(st, ManageOp::Push, req).await
}
pub async fn create(st: State<AppState>, req: Request) -> Response {
    run(st, ManageOp::Create, req).await
}
pub async fn copy(st: State<AppState>, req: Request) -> Response {
    run(st, ManageOp::Copy, req).await
}
pub async fn delete(st: State<AppState>, req: Request) -> Response {
    run(st, ManageOp::Delete, req).await
}

async fn run(State(st): State<AppState>, op: ManageOp, req: Request) -> Response {
    let ctx = req
        .extensions()
        .get::<RequestId>()
        .map(RequestId::call_context)
        .unwrap_or_default();
    match forward(&st, op, req, ctx).await {
        Ok(r) => r,
        Err(e) => OllamaDialect::error_response(e),
    }
}

async fn forward(
    st: &AppState,
    op: ManageOp,
    req: Request,
    ctx: CallContext,
) -> Result<Response, GatewayError> {
    let bytes = read_body(req, st.max_body_bytes).await?;
    let mut body: Map<String, Value> = parse(&bytes)?;
    let key = if op == ManageOp::Copy {
        "source"
    } else {
        "model"
    };
    let name = body
        .get(key)
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| GatewayError::bad_request(format!("{key} is required")).with_param(key))?;
    let route = st.router.resolve(&name).map_err(|e| {
        if op == ManageOp::Pull || op == ManageOp::Create {
            GatewayError::bad_request(format!(
                "model '{name}' is not configured in devassist; add it to the [[models]] section of the configuration"
            ))
        } else {
            e
        }
    })?;
    if !st.manages_models(&route) {
        return Err(GatewayError::bad_request(format!(
            "model '{name}' is managed by devassist's configuration (backend `{}`), not through {}",
            route.settings.backend,
            op.path()
        )));
    }
    // The upstream knows the model by its upstream name.
    let upstream = Value::String(route.settings.upstream.clone());
    for k in [key, "name"] {
        if body.contains_key(k) {
            body.insert(k.into(), upstream.clone());
        }
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| GatewayError::internal(e.to_string()))?;
    let raw = st.manage(&route, op, bytes.into(), &ctx).await?;
    let mut resp = Response::new(Body::from_stream(
        raw.body
            .map(|r| r.map_err(|e| std::io::Error::other(e.message))),
    ));
    *resp.status_mut() = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in raw.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    Ok(resp)
}
