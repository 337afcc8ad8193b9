//! The server-wide cap on requests in progress (`server.max_in_flight`). A request over it is
//! answered at once with 503 and `Retry-After`, in the dialect of the API its path belongs
//! to (`surfaces::Surface`), before any body is read or any backend is asked. A request
//! counts from its head until its response body has been sent or dropped, so a stream
//! counts for as long as it runs.
//!
//! Health endpoints, `/status`, `/status/queue` and `/metrics` are exempt: a load balancer
//! or an operator must still see an overloaded gateway as alive, and an external scaler must
//! still read the demand that should make it add backends.

use crate::surfaces::Surface;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use devassist_core::GatewayError;
use http_body::{Body as _, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// What a client over the cap is told to wait.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Paths that never count: Ollama's and GitLab's health checks, `/status`, the scaler's
/// `/status/queue` and `/metrics`.
const EXEMPT: [&str; 7] = [
    "/",
    "/api/version",
    "/monitoring/healthz",
    "/monitoring/ready",
    "/status",
    "/status/queue",
    "/metrics",
];

/// The counter shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Counter>);

#[derive(Debug)]
struct Counter {
    max: usize,
    now: AtomicUsize,
}

impl InFlight {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Counter {
            max,
            now: AtomicUsize::new(0),
        }))
    }

    /// Requests in progress now.
    pub fn current(&self) -> usize {
        self.0.now.load(Ordering::Relaxed)
    }

    fn try_enter(&self) -> Option<Permit> {
        let before = self.0.now.fetch_add(1, Ordering::AcqRel);
        if before >= self.0.max {
            self.0.now.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Permit(self.0.clone()))
    }
}

/// One request in progress; leaving (by any path) gives its place back.
#[derive(Debug)]
struct Permit(Arc<Counter>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(InFlight::new(max), layer)`.
pub async fn layer(State(limit): State<InFlight>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if EXEMPT.contains(&path) {
        return next.run(req).await;
    }
    let Some(permit) = limit.try_enter() else {
        let err = GatewayError::overloaded(format!(
            "the gateway is at its limit of {} requests in progress, retry shortly",
            limit.0.max
        ))
        .with_retry_after(RETRY_AFTER);
        let surface = Surface::for_path(path);
        // The body is not read: hyper closes the connection after the answer, so say so,
        // or a keep-alive client would send its next request into a closing socket.
        let unread_body = !req.body().is_end_stream();
        drop(req);
        let mut resp = surface.error_response(err);
        if unread_body {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return resp;
    };
    next.run(req).await.map(|body| {
        Body::new(Counted {
            body,
            _permit: permit,
        })
    })
}

/// A response body that holds its request's place until it is finished or dropped.
struct Counted {
    body: Body,
    _permit: Permit,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// `/v1/wait` and `/api/wait` stream one chunk, then wait for `go`; `/status` answers.
    fn app(limit: InFlight, go: Arc<tokio::sync::Notify>) -> Router {
        let wait = move || {
            let go = go.clone();
            async move {
                let chunks = futures::stream::unfold(0, move |i| {
                    let go = go.clone();
                    async move {
                        match i {
                            0 => Some((Ok::<_, std::io::Error>("first"), 1)),
                            1 => {
                                go.notified().await;
                                Some((Ok("last"), 2))
                            }
                            _ => None,
                        }
                    }
                });
                Body::from_stream(chunks)
            }
        };
        Router::new()
            .route("/v1/wait", get(wait.clone()))
            .route("/api/wait", get(wait))
            .route("/status", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limit, layer))
    }

    async fn call(app: &Router, path: &str) -> Response {
        let req = Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap()
    }

    async fn post(app: &Router, path: &str) -> Response {
        let req = Request::post(path).body(Body::from("{}")).unwrap();
        app.clone().oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn a_stream_counts_until_it_ends_and_the_excess_gets_a_fast_503() {
        let limit = InFlight::new(1);
        let go = Arc::new(tokio::sync::Notify::new());
        let app = app(limit.clone(), go.clone());
        let streaming = call(&app, "/v1/wait").await;
        assert_eq!(streaming.status(), 200);
        assert_eq!(limit.current(), 1, "the stream is in progress");

        let over = call(&app, "/api/wait").await;
        assert_eq!(over.status(), 503);
        assert_eq!(over.headers()["retry-after"], "1");
        let no_body_header = over.headers().contains_key("connection");
        let body = over.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("limit of 1 requests"),
            "Ollama's shape: {body}"
        );
        assert!(!no_body_header, "no body: the connection stays open");
        // Exempt, even at the cap.
        assert_eq!(call(&app, "/status").await.status(), 200);
        // A refused request whose body was not read closes its connection, and says so.
        let with_body = post(&app, "/v1/wait").await;
        assert_eq!(with_body.status(), 503);
        assert_eq!(with_body.headers()["connection"], "close");

        go.notify_one();
        let rest = streaming.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&rest[..], b"firstlast");
        assert_eq!(
            limit.current(),
            0,
            "the finished stream gave its place back"
        );
        assert_eq!(call(&app, "/status").await.status(), 200);
        let again = call(&app, "/v1/wait").await;
        assert_eq!(again.status(), 200);
        drop(again);
        assert_eq!(limit.current(), 0, "a dropped stream gives its place back");
    }

    #[tokio::test]
    async fn anthropic_paths_get_anthropics_overloaded_error() {
        let limit = InFlight::new(1);
        let go = Arc::new(tokio::sync::Notify::new());
        let app = app(limit.clone(), go.clone());
        let streaming = call(&app, "/v1/wait").await;
        let over = post(&app, "/v1/messages").await;
        assert_eq!(over.status(), 529);
        assert_eq!(over.headers()["retry-after"], "1");
        let body = over.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], "overloaded_error", "{body}");
        go.notify_one();
        drop(streaming);
    }
}
