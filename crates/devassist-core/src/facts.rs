//! What the gateway learns about one request while it runs, for its metrics and usage
//! records: who asked (`Principal`, set by authentication), and the facts the pipeline notes
//! (`RequestFacts`: feature, model, backend, tokens, timings, failure).
//!
//! The facts travel in `CallContext::facts`; the pipeline writes them a few times per
//! request (never per token), and the gateway's telemetry reads them once, when the request
//! ends. Nothing here measures or records anything by itself.

use crate::event::Usage;
use crate::feature::Feature;
use crate::transcript::Transcript;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Who is asking, as authentication established it: an API key's id, a user, or both.
/// Absent for anonymous requests and for the local operator of a gateway without
/// authentication; derived from the [`crate::Caller`] authentication attached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The id of the API key the request came with (never the secret).
    pub key: Option<Arc<str>>,
    /// The user the request was made for (a token's subject, a key's owner).
    pub user: Option<Arc<str>>,
}

impl Principal {
    /// Who a caller is, for usage records: an API key's public id, a token's user. `None`
    /// for the local operator and anonymous callers, who have no identity to record.
    pub fn of(caller: &crate::Caller) -> Option<Principal> {
        match caller.kind {
            crate::CallerKind::ApiKey => Some(Principal {
                key: Some(Arc::from(caller.id.as_str())),
                user: None,
            }),
            crate::CallerKind::GitLab | crate::CallerKind::Oidc => Some(Principal {
                key: None,
                user: caller.user.as_deref().map(Arc::from),
            }),
            crate::CallerKind::Local | crate::CallerKind::Anonymous => None,
        }
    }
}

/// The facts the pipeline noted about one request.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub feature: Option<Feature>,
    /// The configured model's name (a bounded set: never a name a client made up).
    pub model: Option<Arc<str>>,
    /// The backend that served the request (the last one tried).
    pub backend: Option<Arc<str>>,
    pub principal: Option<Principal>,
    /// From the request's arrival to its sending upstream, less the time spent waiting
    /// for the backend (its queue, its wake): the gateway's own work. Set by the first try.
    pub overhead: Option<Duration>,
    /// From the request's arrival to the answer's first event.
    pub first_event: Option<Duration>,
    /// Token counts, once the answer is done.
    pub usage: Option<Usage>,
    /// The HTTP status of an error the pipeline saw after the answer started (the client
    /// already has its 200 by then).
    pub failed_status: Option<u16>,
    /// The answer reached its end.
    pub done: bool,
}

/// The facts of one request, shared by its tasks. Cheap to update: an uncontended lock,
/// taken a handful of times per request.
#[derive(Debug)]
pub struct RequestFacts {
    received: Instant,
    facts: Mutex<Facts>,
    /// The prompt and answer, for a request that expanded logging covers.
    transcript: OnceLock<Transcript>,
}

impl RequestFacts {
    /// Facts of a request that arrived `received`.
    pub fn new(received: Instant) -> Self {
        Self {
            received,
            facts: Mutex::new(Facts::default()),
            transcript: OnceLock::new(),
        }
    }

    /// Keeps this request's prompt and answer (expanded logging covers it).
    pub fn keep_transcript(&self) {
        let _ = self.transcript.set(Transcript::default());
    }

    /// Where the prompt and answer go, when they are kept.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.transcript.get()
    }

    pub fn received(&self) -> Instant {
        self.received
    }

    /// Changes the facts.
    pub fn update(&self, f: impl FnOnce(&mut Facts)) {
        f(&mut self.facts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The facts as they are now.
    pub fn snapshot(&self) -> Facts {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_seen_by_the_snapshot() {
        let facts = RequestFacts::new(Instant::now());
        facts.update(|f| {
            f.feature = Some(Feature::Chat);
            f.model = Some(Arc::from("m"));
        });
        facts.update(|f| f.done = true);
        let s = facts.snapshot();
        assert_eq!(s.feature, Some(Feature::Chat));
        assert_eq!(s.model.as_deref(), Some("m"));
        assert!(s.done);
        assert!(s.usage.is_none());
    }
}
