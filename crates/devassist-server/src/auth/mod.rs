//! Authentication and the route-level half of authorization: one axum middleware over the
//! whole application (every surface, present and future, and the fallback), so no route can
//! be mounted without it. It finds who is calling ([`Caller`]), refuses what the caller may
//! not reach (admin routes, Ollama model management) in the dialect of the path, and hands
//! the caller on in the request extensions and on the [`crate::guard::RequestId`], from
//! which every `CallContext` is made. Which models and features a caller may use, and its
//! limits, are the pipeline's guard stage (`pipeline/guard.rs`).
//!
//! Only the health endpoints in [`OPEN`] are served without credentials.

pub mod admin;
pub mod credential;
pub mod keys;
pub mod limits;
pub mod request;
pub mod secret;
pub mod store;

use crate::config::{AuthMode, AuthSettings};
use crate::guard::RequestId;
use crate::state::AppState;
use crate::surfaces::Surface;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use credential::Presented;
use devassist_core::{Caller, CallerKind, GatewayError};
use http_body::Body as _;
use std::sync::Arc;

/// Health endpoints: answered to anyone, with `GET` or `HEAD`. Everything else needs
/// credentials when authentication is on.
pub const OPEN: [&str; 4] = [
    "/",
    "/api/version",
    "/monitoring/healthz",
    "/monitoring/ready",
];

/// Ollama's model management: an admin act.
pub const MANAGEMENT: [&str; 5] = [
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
];

/// Marks a response as the auth layer's refusal (for tests and logs: a handler's own 401 or
/// 403 is something else).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// Who may reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health checks.
    Open,
    /// `/status`, `/status/queue`, `/metrics`, `/admin/…`.
    Admin,
    /// Ollama's `/api/pull` and friends.
    Management,
    /// Every other route: any authenticated caller; models and features are checked by the
    /// pipeline.
    Caller,
}

impl Access {
    pub fn of(method: &Method, path: &str) -> Access {
        let read = method == Method::GET || method == Method::HEAD;
        if read && OPEN.contains(&path) {
            Access::Open
        } else if MANAGEMENT.contains(&path) {
            Access::Management
        } else if ["/status", "/metrics", "/admin"]
            .iter()
            .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        {
            Access::Admin
        } else {
            Access::Caller
        }
    }
}

/// The gateway's authentication: its settings, the key store (with `api_keys`) and every
/// caller's limits.
pub struct Auth {
    pub settings: AuthSettings,
    /// Authentication is off and the listener is loopback only: callers are the operator.
    local: bool,
    pub keys: Option<Arc<keys::Keys>>,
    pub limiters: limits::Limiters,
}

impl Auth {
    /// No authentication at all, as before it existed: every caller is the local operator.
    pub fn off() -> Self {
        Self {
            settings: AuthSettings::default(),
            local: true,
            keys: None,
            limiters: limits::Limiters::default(),
        }
    }

    /// From settings: opens the key store with `api_keys` and watches it for changes until
    /// `cancel`.
    pub fn new(
        settings: &AuthSettings,
        data_dir: &std::path::Path,
        tasks: &tokio_util::task::TaskTracker,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Self, store::StoreError> {
        let keys = match settings.mode {
            AuthMode::None => None,
            AuthMode::ApiKeys => {
                let path = settings.keys_db(data_dir);
                let keys = keys::Keys::open(store::KeyStore::open(&path)?)?;
                keys.watch(tasks, cancel);
                tracing::info!(keys_db = %path.display(), "API keys on");
                Some(keys)
            }
        };
        Ok(Self {
            settings: settings.clone(),
            local: settings.mode == AuthMode::None && !settings.allow_anonymous,
            keys,
            limiters: limits::Limiters::default(),
        })
    }

    /// Whether requests must present credentials (unless anonymous callers are allowed).
    pub fn is_on(&self) -> bool {
        self.settings.mode != AuthMode::None
    }

    /// Who is calling, or 401.
    pub fn authenticate(&self, presented: Presented<'_>) -> Result<Arc<Caller>, GatewayError> {
        if self.local {
            return Ok(local());
        }
        let Some(keys) = &self.keys else {
            // `mode = "none"` with anonymous callers allowed: credentials mean nothing.
            return Ok(anonymous());
        };
        match presented {
            Presented::None if self.settings.allow_anonymous => Ok(anonymous()),
            Presented::None => Err(GatewayError::unauthorized(
                "missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`",
            )),
            Presented::Malformed => Err(GatewayError::unauthorized(
                "invalid Authorization header: expected `Bearer <API key>`",
            )),
            Presented::Key(key) => keys.verify(key).map_err(|why| {
                let what = match why {
                    keys::Refusal::Unknown => "invalid API key",
                    keys::Refusal::Revoked => "this API key has been revoked",
                    keys::Refusal::Expired => "this API key has expired",
                };
                GatewayError::unauthorized(what)
            }),
        }
    }

    /// Whether `caller` may reach a route of class `access`: 401 when credentials would
    /// help, 403 when they would not.
    pub fn authorize(
        &self,
        access: Access,
        caller: &Caller,
        path: &str,
    ) -> Result<(), GatewayError> {
        match access {
            Access::Open | Access::Caller => Ok(()),
            _ if caller.admin => Ok(()),
            // Without authentication, anonymous callers see a redacted `/status` and the
            // scaler's queue (admin routes that change something stay closed).
            Access::Admin
                if !self.is_on() && ["/status", "/status/queue", "/metrics"].contains(&path) =>
            {
                Ok(())
            }
            Access::Admin if caller.kind == CallerKind::Anonymous => Err(
                GatewayError::unauthorized(format!("{path} needs an admin API key")),
            ),
            Access::Admin => Err(GatewayError::forbidden(format!(
                "{path} needs an admin API key; `{}` ({}) is not one",
                caller.name, caller.id
            ))),
            Access::Management
                if caller.kind == CallerKind::Anonymous && self.settings.ollama_management =>
            {
                Ok(())
            }
            Access::Management if caller.kind == CallerKind::Anonymous => {
                Err(GatewayError::forbidden(format!(
                    "model management ({path}) is off for anonymous callers; an admin can \
                     allow it with `[ollama] allow_management = true`{}",
                    if self.is_on() {
                        ", or use an admin API key"
                    } else {
                        ""
                    }
                )))
            }
            Access::Management => Err(GatewayError::forbidden(format!(
                "model management ({path}) needs an admin API key; `{}` ({}) is not one",
                caller.name, caller.id
            ))),
        }
    }
}

fn local() -> Arc<Caller> {
    static LOCAL: std::sync::OnceLock<Arc<Caller>> = std::sync::OnceLock::new();
    LOCAL.get_or_init(|| Arc::new(Caller::local())).clone()
}

fn anonymous() -> Arc<Caller> {
    static ANONYMOUS: std::sync::OnceLock<Arc<Caller>> = std::sync::OnceLock::new();
    ANONYMOUS
        .get_or_init(|| Arc::new(Caller::anonymous()))
        .clone()
}

/// The middleware: `axum::middleware::from_fn_with_state(state, auth::layer)`, inside the
/// request-id layer.
pub async fn layer(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let access = Access::of(req.method(), req.uri().path());
    if access == Access::Open {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let checked = st
        .auth
        .authenticate(credential::presented(req.headers()))
        .inspect(|caller| {
            // Usage records name the key even when this route then refuses it.
            if let Some(facts) = req.extensions().get::<RequestId>().and_then(|r| r.facts()) {
                facts.update(|f| f.principal = devassist_core::Principal::of(caller));
            }
        })
        .and_then(|caller| st.auth.authorize(access, &caller, path).map(|()| caller));
    let caller = match checked {
        Ok(caller) => caller,
        Err(err) => return refuse(req, err),
    };
    if let Some(rid) = req.extensions_mut().get_mut::<RequestId>() {
        rid.set_caller(caller.clone());
    }
    req.extensions_mut().insert(caller.clone());
    // On the response too, for the access log and whatever counts usage after it.
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller);
    resp
}

/// The refusal in the path's dialect. An unread body closes the connection, so say so.
fn refuse(req: Request, err: GatewayError) -> Response {
    let surface = Surface::for_path(req.uri().path());
    let unread_body = !req.body().is_end_stream();
    tracing::info!(status = err.status(), reason = %err.message, "Request refused by auth");
    drop(req);
    let mut resp = surface.error_response(err);
    resp.extensions_mut().insert(Refused);
    if resp.status() == 401 {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if unread_body {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_keys;
