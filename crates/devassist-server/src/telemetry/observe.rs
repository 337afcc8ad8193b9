//! The observe layer: the one place a request is recorded. It gives each API request its
//! `RequestFacts` (through the request id, so every `CallContext` carries them), and when
//! the request ends — its response body sent, or dropped because the client went away — it
//! records the request's metrics and hands its usage record to the writer.
//!
//! It sits inside the request-id layer (it needs the correlation id) and outside the
//! in-flight cap (so that the cap's 503s are counted). Health checks, `/status`,
//! `/status/queue` and `/metrics` are not requests of the API and are not recorded.

use super::Telemetry;
use super::expanded::ExpandedEntry;
use super::metrics::{Finished, RejectReason};
use super::usage::UsageRecord;
use crate::guard::RequestId;
use crate::surfaces::Surface;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use devassist_core::{ErrorKind, Facts, GatewayError, RequestFacts};
use http_body::{Body as _, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

/// Paths that are not API requests: probes, operator pages, the scraper.
const NOT_RECORDED: [&str; 7] = [
    "/",
    "/api/version",
    "/monitoring/healthz",
    "/monitoring/ready",
    "/status",
    "/status/queue",
    "/metrics",
];

/// Status recorded for a request whose client went away before its answer ended
/// (nginx's and Ollama's "client closed request").
pub const CLIENT_CLOSED: u16 = 499;

/// The middleware: `axum::middleware::from_fn_with_state(telemetry, layer)`.
pub async fn layer(
    State(telemetry): State<Arc<Telemetry>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if NOT_RECORDED.contains(&path) {
        return next.run(req).await;
    }
    let surface = Surface::for_path(path).as_str();
    let facts = Arc::new(RequestFacts::new(Instant::now()));
    if telemetry
        .expanded()
        .is_some_and(|sink| sink.covers(req.headers()))
    {
        facts.keep_transcript();
    }
    let request_id = req.extensions_mut().get_mut::<RequestId>().map(|rid| {
        rid.attach_facts(facts.clone());
        rid.shared()
    });
    let mut pending = Pending(Some(Open {
        telemetry,
        facts,
        surface,
        request_id,
        at: SystemTime::now(),
        head_status: None,
        refused: false,
    }));
    let resp = next.run(req).await;
    pending.answered(&resp);
    resp.map(|body| Body::new(Observed { body, pending }))
}

/// What the layer knows of a request until it ends.
struct Open {
    telemetry: Arc<Telemetry>,
    facts: Arc<RequestFacts>,
    surface: &'static str,
    request_id: Option<Arc<str>>,
    /// When it arrived, by the wall clock (usage records are dated).
    at: SystemTime,
    /// The response's status, once the handler answered.
    head_status: Option<u16>,
    /// The answer was a refusal (`RejectReason`).
    refused: bool,
}

/// A request being observed. Dropped without an answer (the client went away while the
/// handler worked), it is recorded as cancelled.
struct Pending(Option<Open>);

impl Pending {
    fn answered(&mut self, resp: &Response) {
        let Some(r) = &mut self.0 else { return };
        r.head_status = Some(resp.status().as_u16());
        if let Some(reason) = resp
            .extensions()
            .get::<Arc<GatewayError>>()
            .and_then(|e| reject_reason(e.kind))
        {
            r.refused = true;
            r.telemetry.metrics.rejected(r.surface, reason);
        }
    }

    fn finish(&mut self, body_ended: bool) {
        if let Some(r) = self.0.take() {
            r.finish(body_ended);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// The refusals `rejected_requests_total` counts, by the error the client got.
fn reject_reason(kind: ErrorKind) -> Option<RejectReason> {
    Some(match kind {
        ErrorKind::Overloaded => RejectReason::Overload,
        ErrorKind::PayloadTooLarge => RejectReason::BodyLimit,
        ErrorKind::RateLimited => RejectReason::RateLimited,
        ErrorKind::Unauthorized => RejectReason::Unauthenticated,
        ErrorKind::Forbidden => RejectReason::Forbidden,
        _ => return None,
    })
}

impl Open {
    fn finish(self, body_ended: bool) {
        let duration = self.facts.received().elapsed();
        let facts = self.facts.snapshot();
        // A client that leaves during an error answer still got its error.
        let cancelled = !body_ended && self.head_status.is_none_or(|s| s < 400);
        // An error answer keeps its status; an answer that began as a success (a stream, or
        // GitLab's 200 with an error event) but failed takes the failure's.
        let status = match self.head_status {
            _ if cancelled => CLIENT_CLOSED,
            Some(s) if s >= 400 => s,
            Some(s) => facts.failed_status.unwrap_or(s),
            None => CLIENT_CLOSED,
        };
        let usage = facts.usage.unwrap_or_default();
        let metrics = &self.telemetry.metrics;
        metrics.record(&Finished {
            surface: self.surface,
            feature: facts.feature,
            model: facts.model.clone(),
            status,
            duration,
            first_event: facts.first_event,
            overhead: facts.overhead,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        });
        self.expanded(&facts, status, duration);
        // Usage is about model requests, and about refusals (who was turned away). A listing,
        // a malformed body or a path that does not exist is neither, and leaves no row that a
        // scanner could fill the disk with.
        let Some(sink) = self.telemetry.usage() else {
            return;
        };
        if facts.feature.is_none() && !self.refused {
            return;
        }
        let principal = facts.principal.unwrap_or_default();
        sink.record(
            UsageRecord {
                at: self.at,
                request_id: self.request_id.unwrap_or_else(|| Arc::from("")),
                key: principal.key,
                user: principal.user,
                surface: self.surface,
                feature: facts.feature,
                model: facts.model,
                backend: facts.backend,
                prompt_tokens: facts.usage.map(|u| u.prompt_tokens),
                completion_tokens: facts.usage.map(|u| u.completion_tokens),
                ttft: facts.first_event,
                duration,
                status,
                cancelled,
            },
            metrics,
        );
    }
}

impl Open {
    /// Hands a generation's prompt and answer to the expanded log, when it covers the
    /// request. A request that sent no prompt (refused, an embedding) leaves no line.
    fn expanded(&self, facts: &Facts, status: u16, duration: std::time::Duration) {
        let (Some(transcript), Some(sink)) = (self.facts.transcript(), self.telemetry.expanded())
        else {
            return;
        };
        let exchange = transcript.take();
        if exchange.request.is_none() {
            return;
        }
        let entry = ExpandedEntry {
            at: self.at,
            request_id: self.request_id.clone().unwrap_or_else(|| Arc::from("")),
            surface: self.surface,
            feature: facts.feature,
            model: facts.model.clone(),
            backend: facts.backend.clone(),
            exchange,
            usage: facts.usage,
            status,
            duration,
        };
        sink.record(entry, &self.telemetry.metrics);
    }
}

/// A response body that records its request when it ends or is dropped.
struct Observed {
    body: Body,
    pending: Pending,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.pending.finish(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // A body the server never polled to its end because it knew it was complete (a
        // fully written JSON answer) ended all the same.
        let ended = self.body.is_end_stream();
        self.pending.finish(ended);
    }
}
