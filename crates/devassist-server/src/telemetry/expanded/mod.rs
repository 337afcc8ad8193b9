//! Expanded logging (GitLab's `expanded_ai_logging`): for the requests `[log] expanded`
//! covers, one JSON line per generation — when, correlation id, caller, surface,
//! feature, model, backend, the prompt as it went to the backend, the answer as the client
//! got it (text, reasoning, tool calls), usage, status — in a file of its own
//! (`[log] expanded_file`), every secret in the prompt and the answer replaced by a
//! placeholder, whatever the backend.
//!
//! Like usage records, a request never waits on the disk: `ExpandedSink::record` puts the
//! entry in a bounded channel and returns; when the channel is full the entry is dropped,
//! counted (`devassist_expanded_log_records_dropped_total`) and warned about. The writer
//! task (`writer.rs`) redacts, encodes (`entry.rs`) and appends, on a blocking thread.

pub mod entry;
pub mod writer;

pub use entry::ExpandedEntry;
pub use writer::ExpandedWriter;

use super::Metrics;
use crate::config::logging::ExpandedLogSettings;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// How often a full queue is warned about, at most.
const WARN_EVERY_MS: u64 = 10_000;

/// The requests' end of the channel to the writer.
pub struct ExpandedSink {
    settings: ExpandedLogSettings,
    tx: mpsc::Sender<ExpandedEntry>,
    /// Unix ms of the last "queue full" warning.
    warned_at: AtomicU64,
}

/// A sink for `settings` and the writer's end of its channel, `capacity` entries deep.
pub fn channel(
    settings: ExpandedLogSettings,
    capacity: usize,
) -> (ExpandedSink, mpsc::Receiver<ExpandedEntry>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        ExpandedSink {
            settings,
            tx,
            warned_at: AtomicU64::new(0),
        },
        rx,
    )
}

impl ExpandedSink {
    /// Whether a request with these headers is written (`[log] expanded`).
    pub fn covers(&self, headers: &http::HeaderMap) -> bool {
        self.settings.covers(headers)
    }

    /// Hands `entry` to the writer without waiting; drops (and counts) it when the writer
    /// is behind or gone.
    pub fn record(&self, entry: ExpandedEntry, metrics: &Metrics) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics.privacy.expanded_dropped(1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let last = self.warned_at.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= WARN_EVERY_MS
                    && self
                        .warned_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        "Expanded-log records dropped: the writer is behind (see \
                         devassist_expanded_log_records_dropped_total)"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => metrics.privacy.expanded_dropped(1),
        }
    }
}

impl std::fmt::Debug for ExpandedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpandedSink")
            .field("mode", &self.settings.mode)
            .field("capacity", &self.tx.max_capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
