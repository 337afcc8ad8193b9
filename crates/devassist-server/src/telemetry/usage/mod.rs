//! Usage records: one row per model request (and per refusal) — when, correlation id, key
//! or user, surface, feature, model, backend, tokens, time to first token, duration,
//! status, cancelled — in SQLite under the data directory.
//!
//! A request never waits on the disk: `UsageSink::record` puts the record in a bounded
//! channel and returns; when the channel is full the record is dropped, counted
//! (`devassist_usage_records_dropped_total`) and warned about. The writer task
//! (`writer.rs`) writes batches and prunes old rows; `report.rs` sums them up for
//! `devassist usage`.
//!
//! Nor does a request wake the writer: it sleeps until its flush interval, or until the
//! sink sees a whole batch waiting (`Wake`). A receiver woken by every record cost each
//! request a thread wake-up (0.6–0.8 context switches per request at 1,000 RPS).

pub mod report;
pub mod store;
pub mod writer;

pub use store::{Store, StoreError};
pub use writer::{Progress, UsageWriter, WriterConfig};

use super::Metrics;
use devassist_core::Feature;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc};

/// One request's usage.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    /// When the request arrived.
    pub at: SystemTime,
    pub request_id: Arc<str>,
    pub key: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub surface: &'static str,
    pub feature: Option<Feature>,
    pub model: Option<Arc<str>>,
    pub backend: Option<Arc<str>>,
    /// `None` when no answer said (a refused or failed request).
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub ttft: Option<Duration>,
    pub duration: Duration,
    pub status: u16,
    pub cancelled: bool,
}

/// How often a full queue is warned about, at most.
const WARN_EVERY_MS: u64 = 10_000;

/// The requests' end of the channel to the writer.
pub struct UsageSink {
    tx: mpsc::Sender<UsageRecord>,
    /// Unix ms of the last "queue full" warning.
    warned_at: AtomicU64,
    /// Tells a writer that sleeps between flushes that a batch is waiting.
    wake: Option<Wake>,
}

/// A whole batch is waiting: the writer need not wait for its flush interval.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    pub batch: usize,
    pub ready: Arc<Notify>,
}

/// A sink and the writer's end of its channel, `capacity` records deep. The receiver is
/// woken by every record.
pub fn channel(capacity: usize) -> (UsageSink, mpsc::Receiver<UsageRecord>) {
    channel_with(capacity, None)
}

/// A sink that signals `wake` when a batch is waiting, for a receiver that does not wait on
/// the channel itself.
pub(crate) fn channel_with(
    capacity: usize,
    wake: Option<Wake>,
) -> (UsageSink, mpsc::Receiver<UsageRecord>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        UsageSink {
            tx,
            warned_at: AtomicU64::new(0),
            wake,
        },
        rx,
    )
}

impl UsageSink {
    /// Records in the channel, not yet taken by the writer.
    pub(crate) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Hands `record` to the writer without waiting; drops (and counts) it when the
    /// writer is behind or gone.
    pub fn record(&self, record: UsageRecord, metrics: &Metrics) {
        match self.tx.try_send(record) {
            Ok(()) => {
                if let Some(wake) = &self.wake
                    && self.queued() >= wake.batch
                {
                    wake.ready.notify_one();
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics.usage_dropped(1);
                let now = store::unix_ms(SystemTime::now()).max(0) as u64;
                let last = self.warned_at.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= WARN_EVERY_MS
                    && self
                        .warned_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        "Usage records dropped: the usage writer is behind (see \
                         devassist_usage_records_dropped_total)"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => metrics.usage_dropped(1),
        }
    }
}

impl std::fmt::Debug for UsageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageSink")
            .field("capacity", &self.tx.max_capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
