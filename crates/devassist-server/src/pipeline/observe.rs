//! The observe stage: notes in the request's facts (`CallContext::facts`) what the pipeline
//! learns — at the guard, the feature, model and caller; at each try, the backend and (on
//! the first) the gateway's own overhead; from the answer, its first event, its token counts
//! and an error after it began. The telemetry layer reads them when the request ends
//! (`telemetry::observe`).
//!
//! Per request, a handful of uncontended lock updates; per token, one `match` on the event.
//! A call without facts (a probe, a test) costs a branch.

use devassist_core::{
    CallContext, EmbedResponse, Event, EventStream, Feature, GatewayError, RequestFacts, Usage,
};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Started;
use crate::telemetry::Labels;

/// At the guard: what the request is for, and who asks.
pub(super) fn admitted(ctx: &CallContext, feature: Feature, labels: &Labels, model: &str) {
    if let Some(facts) = &ctx.facts {
        let model = labels.model(model);
        facts.update(|f| {
            f.feature = Some(feature);
            f.model = Some(model);
            f.principal = ctx
                .caller
                .as_deref()
                .and_then(devassist_core::Principal::of);
        });
    }
}

/// A try is being sent to `backend` after `waited` in its queue or for its wake.
pub(super) fn sending(ctx: &CallContext, backend: Arc<str>, waited: Duration) {
    if let Some(facts) = &ctx.facts {
        let overhead = facts.received().elapsed().saturating_sub(waited);
        facts.update(|f| {
            f.backend = Some(backend);
            f.overhead.get_or_insert(overhead);
        });
    }
}

/// An embedding came back.
pub(super) fn embedded(ctx: &CallContext, r: &EmbedResponse) {
    if let Some(facts) = &ctx.facts {
        let at = facts.received().elapsed();
        facts.update(|f| {
            f.first_event = Some(at);
            f.usage = Some(Usage {
                prompt_tokens: r.prompt_tokens,
                completion_tokens: 0,
            });
            f.done = true;
        });
    }
}

/// How a generation began: its first event, or a failure before it (which a surface may
/// still answer with a 200, as GitLab's chat does with an error event).
pub(super) fn outcome(
    result: Result<Started, GatewayError>,
    ctx: &CallContext,
) -> Result<Started, GatewayError> {
    match result {
        Ok(s) => Ok(started(s, ctx)),
        Err(e) => {
            if let Some(facts) = &ctx.facts {
                let status = e.status();
                facts.update(|f| f.failed_status = Some(status));
            }
            Err(e)
        }
    }
}

/// The answer's first event arrived: note it, and watch the rest for its end.
fn started(mut started: Started, ctx: &CallContext) -> Started {
    let Some(facts) = ctx.facts.clone() else {
        return started;
    };
    let at = facts.received().elapsed();
    let done = done_usage(&started.first);
    facts.update(|f| {
        f.first_event.get_or_insert(at);
        if let Some(usage) = done {
            f.usage = Some(usage);
            f.done = true;
        }
    });
    if done.is_none() {
        started.rest = Watched {
            inner: std::mem::replace(&mut started.rest, futures::stream::empty().boxed()),
            facts,
        }
        .boxed();
    }
    started
}

fn done_usage(event: &Event) -> Option<Usage> {
    match event {
        Event::Done { usage, .. } => Some(*usage),
        _ => None,
    }
}

/// The rest of an answer, watched for its `Done` (token counts) or its error.
struct Watched {
    inner: EventStream,
    facts: Arc<RequestFacts>,
}

impl Stream for Watched {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(Event::Done { usage, .. }))) => {
                let usage = *usage;
                self.facts.update(|f| {
                    f.usage = Some(usage);
                    f.done = true;
                });
            }
            Poll::Ready(Some(Err(e))) => {
                let status = e.status();
                self.facts.update(|f| f.failed_status = Some(status));
            }
            _ => {}
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devassist_core::FinishReason;
    use std::time::Instant;

    fn with_facts() -> (CallContext, Arc<RequestFacts>) {
        let facts = Arc::new(RequestFacts::new(Instant::now()));
        let mut ctx = CallContext::new("t");
        ctx.facts = Some(facts.clone());
        (ctx, facts)
    }

    #[tokio::test]
    async fn tokens_come_from_the_done_event_and_errors_are_noted() {
        let (ctx, facts) = with_facts();
        let usage = Usage {
            prompt_tokens: 7,
            completion_tokens: 3,
        };
        let rest = futures::stream::iter([Ok(Event::done(FinishReason::Stop, usage))]).boxed();
        let s = started(
            Started {
                first: Event::Text("a".into()),
                rest,
                report: None,
            },
            &ctx,
        );
        assert!(facts.snapshot().first_event.is_some());
        assert!(!facts.snapshot().done, "not before the end is read");
        let _ = s.rest.collect::<Vec<_>>().await;
        let f = facts.snapshot();
        assert!(f.done);
        assert_eq!(f.usage, Some(usage));

        let (ctx, facts) = with_facts();
        let rest = futures::stream::iter([Err(GatewayError::backend_error("broke"))]).boxed();
        let s = started(
            Started {
                first: Event::Text("a".into()),
                rest,
                report: None,
            },
            &ctx,
        );
        let _ = s.rest.collect::<Vec<_>>().await;
        let f = facts.snapshot();
        assert_eq!(f.failed_status, Some(502));
        assert!(!f.done);
    }

    #[test]
    fn a_failure_before_the_first_event_is_noted() {
        let (ctx, facts) = with_facts();
        let r = outcome(Err(GatewayError::backend_error("down")), &ctx);
        assert!(r.is_err());
        assert_eq!(facts.snapshot().failed_status, Some(502));
    }

    #[test]
    fn the_first_try_sets_the_overhead_the_last_the_backend() {
        let (ctx, facts) = with_facts();
        sending(&ctx, Arc::from("a"), Duration::from_secs(3600));
        sending(&ctx, Arc::from("b"), Duration::ZERO);
        let f = facts.snapshot();
        assert_eq!(f.backend.as_deref(), Some("b"));
        assert_eq!(
            f.overhead,
            Some(Duration::ZERO),
            "the wait is not the gateway's own time"
        );
    }
}
