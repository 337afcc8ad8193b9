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
pub mod jwt;
pub mod keys;
pub mod limits;
pub mod request;
pub mod secret;
pub mod store;

use crate::config::AuthSettings;
use crate::guard::RequestId;
use crate::state::AppState;
use crate::surfaces::Surface;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
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

/// The gateway's authentication: its settings, the key store (with `api_keys`), the token
/// verifiers (with `gitlab`, `oidc`) and every caller's limits.
pub struct Auth {
    pub settings: AuthSettings,
    /// Authentication is off and the listener is loopback only: callers are the operator.
    local: bool,
    pub keys: Option<Arc<keys::Keys>>,
    pub gitlab: Option<Arc<jwt::gitlab::GitLab>>,
    pub oidc: Option<Arc<jwt::oidc::Oidc>>,
    pub limiters: limits::Limiters,
}

/// Why the authentication could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Key(String),
}

/// A caller, and what its GitLab token grants when it came with one.
pub struct Authenticated {
    pub caller: Arc<Caller>,
    pub grant: Option<Arc<jwt::gitlab::Grant>>,
}

impl From<Arc<Caller>> for Authenticated {
    fn from(caller: Arc<Caller>) -> Self {
        Self {
            caller,
            grant: None,
        }
    }
}

impl Auth {
    /// No authentication at all, as before it existed: every caller is the local operator.
    pub fn off() -> Self {
        Self {
            settings: AuthSettings::default(),
            local: true,
            keys: None,
            gitlab: None,
            oidc: None,
            limiters: limits::Limiters::default(),
        }
    }

    /// From settings: opens the key store with `api_keys` and watches it for changes, and
    /// starts keeping the token providers' keys, until `cancel`.
    pub fn new(
        settings: &AuthSettings,
        data_dir: &std::path::Path,
        tasks: &tokio_util::task::TaskTracker,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Self, AuthError> {
        let keys = if settings.api_keys {
            let path = settings.keys_db(data_dir);
            let keys = keys::Keys::open(store::KeyStore::open(&path)?)?;
            keys.watch(tasks, cancel);
            tracing::info!(keys_db = %path.display(), "API keys on");
            Some(keys)
        } else {
            None
        };
        let gitlab = match &settings.gitlab {
            Some(g) => {
                let verifier =
                    jwt::gitlab::GitLab::new(g, tasks, cancel).map_err(AuthError::Key)?;
                tracing::info!(instance = %g.url, "GitLab tokens on");
                Some(Arc::new(verifier))
            }
            None => None,
        };
        let oidc = settings.oidc.as_ref().map(|o| {
            tracing::info!(issuer = %o.issuer, "OIDC tokens on");
            Arc::new(jwt::oidc::Oidc::new(o, tasks, cancel))
        });
        Ok(Self {
            settings: settings.clone(),
            local: !settings.is_on() && !settings.allow_anonymous,
            keys,
            gitlab,
            oidc,
            limiters: limits::Limiters::default(),
        })
    }

    /// Whether requests must present credentials (unless anonymous callers are allowed).
    pub fn is_on(&self) -> bool {
        self.settings.is_on()
    }

    /// Who is calling, or 401 (403 for a valid token whose groups have no policy here).
    /// `path` picks GitLab's words on GitLab's routes when GitLab tokens are on.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Authenticated, GatewayError> {
        if self.local {
            return Ok(local().into());
        }
        if !self.is_on() {
            // `mode = "none"` with anonymous callers allowed: credentials mean nothing.
            return Ok(anonymous().into());
        }
        let gitlab_route = self.gitlab.is_some() && Surface::for_path(path) == Surface::GitLab;
        match credential::presented(headers) {
            Presented::None if self.settings.allow_anonymous => Ok(anonymous().into()),
            Presented::None if gitlab_route => {
                Err(GatewayError::unauthorized(jwt::gitlab::NO_HEADER))
            }
            Presented::None => Err(GatewayError::unauthorized(format!(
                "missing {}: send it as `Authorization: Bearer <{}>`{}",
                self.credential_name(),
                self.credential_name(),
                if self.keys.is_some() {
                    " or `x-api-key: <key>`"
                } else {
                    ""
                }
            ))),
            Presented::Malformed if gitlab_route => {
                Err(GatewayError::unauthorized(jwt::gitlab::BAD_HEADER))
            }
            Presented::Malformed => Err(GatewayError::unauthorized(format!(
                "invalid Authorization header: expected `Bearer <{}>`",
                self.credential_name()
            ))),
            Presented::Key(credential) => self.verify(credential, headers, gitlab_route).await,
        }
    }

    /// What callers present here, for messages: `API key`, `token`, `API key or token`.
    fn credential_name(&self) -> &'static str {
        match (
            self.keys.is_some(),
            self.gitlab.is_some() || self.oidc.is_some(),
        ) {
            (true, true) => "API key or token",
            (false, true) => "token",
            _ => "API key",
        }
    }

    /// An API key goes to the key store; a JWT to the verifier the GitLab header or its
    /// issuer picks.
    async fn verify(
        &self,
        credential: &str,
        headers: &HeaderMap,
        gitlab_route: bool,
    ) -> Result<Authenticated, GatewayError> {
        if let Some(keys) = &self.keys
            && secret::looks_like_key(credential)
        {
            return keys.verify(credential).map(Into::into).map_err(|why| {
                GatewayError::unauthorized(match why {
                    keys::Refusal::Unknown => "invalid API key",
                    keys::Refusal::Revoked => "this API key has been revoked",
                    keys::Refusal::Expired => "this API key has expired",
                })
            });
        }
        let jwt = jwt::looks_like_jwt(credential);
        let issuer = jwt.then(|| jwt::peek_issuer(credential)).flatten();
        if let Some(oidc) = &self.oidc
            && issuer.as_deref() == Some(oidc.issuer.as_str())
        {
            let caller = oidc.verify(credential).await?;
            return Ok(Arc::new(caller).into());
        }
        if let Some(gitlab) = &self.gitlab
            && (gitlab_route || headers.contains_key(jwt::gitlab::TYPE_HEADER))
        {
            let (caller, grant) = gitlab.verify(credential, headers).await?;
            return Ok(Authenticated {
                caller: Arc::new(caller),
                grant: Some(Arc::new(grant)),
            });
        }
        Err(GatewayError::unauthorized(match (jwt, issuer) {
            (false, _) if self.keys.is_some() => "invalid API key".to_owned(),
            (false, _) => format!(
                "invalid credentials: this gateway takes {}s, not API keys",
                self.credential_name()
            ),
            (true, Some(iss)) if self.gitlab.is_some() => format!(
                "invalid token: issuer `{iss}` is not trusted here (GitLab's tokens come with \
                 `X-Gitlab-Authentication-Type: oidc`)"
            ),
            (true, Some(iss)) => format!("invalid token: issuer `{iss}` is not trusted here"),
            (true, None) => "invalid token: it names no issuer".to_owned(),
        }))
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
                "{path} needs an admin API key (or a token of an admin group); {} is not one",
                caller.describe()
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
                "model management ({path}) needs an admin API key (or a token of an admin \
                 group); {} is not one",
                caller.describe()
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
    let path = req.uri().path().to_owned();
    let checked = st
        .auth
        .authenticate(req.headers(), &path)
        .await
        .inspect(|who| {
            // Usage records name the key even when this route then refuses it.
            if let Some(facts) = req.extensions().get::<RequestId>().and_then(|r| r.facts()) {
                facts.update(|f| f.principal = devassist_core::Principal::of(&who.caller));
            }
        })
        .and_then(|who| {
            st.auth.authorize(access, &who.caller, &path)?;
            if let Some(grant) = &who.grant {
                jwt::gitlab::authorize_route(grant, &path)?;
            }
            Ok(who)
        });
    let who = match checked {
        Ok(who) => who,
        Err(err) => return refuse(req, err),
    };
    let caller = who.caller;
    if let Some(rid) = req.extensions_mut().get_mut::<RequestId>() {
        rid.set_caller(caller.clone());
    }
    req.extensions_mut().insert(caller.clone());
    if let Some(grant) = who.grant {
        req.extensions_mut().insert(grant);
    }
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
mod test_idp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_gitlab;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_oidc;
