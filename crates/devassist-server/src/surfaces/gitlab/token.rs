//! `POST /v1/code/user_access_token`: GitLab (Rails) asks for a short-lived token an IDE can
//! send straight to `/v2/completions` (reference §4.3). Needs a GitLab instance token with
//! `complete_code` (the auth layer checks it); the token is signed with
//! `[auth.gitlab] signing_key`.

use crate::auth::jwt::gitlab::{Grant, INSTANCE_HEADER, REALM_HEADER, USER_HEADER};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use devassist_core::GatewayError;
use serde_json::json;
use std::sync::Arc;

/// FastAPI's `HTTPException(status, detail)`.
fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

pub async fn user_access_token(
    State(st): State<AppState>,
    grant: Option<axum::Extension<Arc<Grant>>>,
    headers: HeaderMap,
) -> Response {
    // API keys and OIDC users reach this only as GitLab's gateway would refuse them.
    let (Some(axum::Extension(grant)), Some(gitlab)) = (grant, st.auth.gitlab.as_ref()) else {
        return detail(
            StatusCode::FORBIDDEN,
            "Unauthorized to create user access token for code suggestions",
        );
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let mut values = Vec::with_capacity(3);
    for name in [USER_HEADER, INSTANCE_HEADER, REALM_HEADER] {
        match header(name) {
            Some(v) => values.push(v),
            None => {
                return detail(StatusCode::BAD_REQUEST, &format!("Missing {name} header"));
            }
        }
    }
    match gitlab.mint(&grant, values[0], values[2], values[1]) {
        Ok((token, expires_at)) => {
            Json(json!({ "token": token, "expires_at": expires_at })).into_response()
        }
        Err(why) => {
            tracing::warn!(reason = %why, "Cannot mint an IDE token");
            let mut resp = detail(StatusCode::INTERNAL_SERVER_ERROR, "Failed to generate JWT");
            resp.extensions_mut()
                .insert(Arc::new(GatewayError::internal(why)));
            resp
        }
    }
}
