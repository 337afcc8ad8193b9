//! Counters that let gateway tests see what reached the mock: how many generations
//! started, finished, and were cancelled by dropping the stream (a client disconnect).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// A snapshot of the counters. Once every stream is gone,
/// `started == completed + cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MockStats {
    /// Calls to `generate`.
    pub started: u64,
    /// Generations that ran to their last item (`Done` or an error).
    pub completed: u64,
    /// Generations dropped before their last item.
    pub cancelled: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    started: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    changed: Notify,
}

impl Counters {
    pub fn snapshot(&self) -> MockStats {
        MockStats {
            started: self.started.load(Ordering::SeqCst),
            completed: self.completed.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
        }
    }

    /// Waits until the counters satisfy `done`.
    pub async fn wait_until(&self, done: impl Fn(&MockStats) -> bool) -> MockStats {
        loop {
            // Registered before the check so that a change in between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let stats = self.snapshot();
            if done(&stats) {
                return stats;
            }
            changed.await;
        }
    }

    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

/// Counts one generation: started when created, completed by `finish`, cancelled if
/// dropped before that.
pub(crate) struct RunGuard {
    counters: Arc<Counters>,
    finished: bool,
}

impl RunGuard {
    pub fn start(counters: Arc<Counters>) -> Self {
        counters.bump(&counters.started);
        Self {
            counters,
            finished: false,
        }
    }

    pub fn finish(&mut self) {
        if !std::mem::replace(&mut self.finished, true) {
            self.counters.bump(&self.counters.completed);
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.counters.bump(&self.counters.cancelled);
        }
    }
}
