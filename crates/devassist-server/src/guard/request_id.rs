//! Correlation ids: taken from `X-Request-ID` or `X-Gitlab-Correlation-Id`, generated
//! otherwise, returned on the response, recorded on every log line of the request through
//! its span, and forwarded upstream by the backends. Also writes the access log line and
//! logs errors that surfaces attached to their responses.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use devassist_core::GatewayError;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_GITLAB_CORRELATION_ID: HeaderName = HeaderName::from_static("x-gitlab-correlation-id");

/// The request's correlation id, in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId {
    id: Arc<str>,
    /// `X-Devassist-Grounding: off`: answer without docs grounding.
    no_grounding: bool,
    /// Where the pipeline notes what it learns, for telemetry (`telemetry::observe`).
    facts: Option<Arc<devassist_core::RequestFacts>>,
    /// Who is calling, once the auth layer has found out.
    caller: Option<Arc<devassist_core::Caller>>,
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The id, shared.
    pub fn shared(&self) -> Arc<str> {
        self.id.clone()
    }

    /// The request's facts, for code before the pipeline that learns something about it
    /// (authentication naming the caller of a request it then refuses).
    pub fn facts(&self) -> Option<&Arc<devassist_core::RequestFacts>> {
        self.facts.as_ref()
    }

    /// Every call context of this request carries `facts` from now on.
    pub fn attach_facts(&mut self, facts: Arc<devassist_core::RequestFacts>) {
        self.facts = Some(facts);
    }

    /// The context that travels with this request to the backend.
    pub fn call_context(&self) -> devassist_core::CallContext {
        let mut ctx = devassist_core::CallContext::new(self.id.to_string());
        ctx.no_grounding = self.no_grounding;
        ctx.facts = self.facts.clone();
        ctx.caller = self.caller.clone();
        ctx
    }

    /// Who is calling (set by the auth layer; `None` before it ran).
    pub fn caller(&self) -> Option<&Arc<devassist_core::Caller>> {
        self.caller.as_ref()
    }

    pub(crate) fn set_caller(&mut self, caller: Arc<devassist_core::Caller>) {
        self.caller = Some(caller);
    }
}

fn acceptable(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?.trim();
    (!s.is_empty() && s.len() <= 200).then_some(s)
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id: Arc<str> = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable)
        .or_else(|| {
            req.headers()
                .get(&X_GITLAB_CORRELATION_ID)
                .and_then(acceptable)
        })
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::new_v4().simple().to_string()));
    let no_grounding = req
        .headers()
        .get(crate::grounding::OPT_OUT_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "off" | "false" | "0" | "no"
            )
        });
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        no_grounding,
        facts: None,
        caller: None,
    });
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let _enter = span.enter();
    let caller = resp
        .extensions()
        .get::<Arc<devassist_core::Caller>>()
        .map_or("-", |c| c.id.as_str());
    match resp.extensions().get::<Arc<GatewayError>>() {
        Some(err) if status >= 500 => {
            tracing::warn!(status, ms, caller, error = %err, "Request failed")
        }
        Some(err) => tracing::info!(status, ms, caller, error = %err, "Request rejected"),
        None => tracing::info!(status, ms, caller, "Request served"),
    }
    resp
}
