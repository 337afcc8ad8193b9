//! Telemetry: what the gateway tells its operators about the requests it serves — the
//! Prometheus series on `/metrics` (`metrics`, `scrape`, `privacy`), one usage record per
//! model request in SQLite (`usage`), and, when the operator turns it on, the full prompt
//! and answer of each request, redacted, in the expanded log (`expanded`).
//!
//! Requests are recorded in one place, the `observe` layer, when they end: it reads the
//! facts the pipeline noted (`devassist_core::RequestFacts`) and the response. Nothing
//! here is on the per-token path, and nothing here ever waits on a disk.

pub mod expanded;
pub mod labels;
pub mod metrics;
pub mod observe;
pub mod privacy;
pub mod scrape;
pub mod usage;

#[cfg(test)]
mod tests;

pub use labels::Labels;
pub use metrics::{Metrics, RejectReason};

use std::sync::OnceLock;

pub struct Telemetry {
    pub metrics: Metrics,
    /// Where usage records go, once `devassist serve` has opened the usage database.
    usage: OnceLock<usage::UsageSink>,
    /// Where expanded-log entries go, once `devassist serve` has opened the file.
    expanded: OnceLock<expanded::ExpandedSink>,
    /// `/metrics` is served on the main listener (no `[metrics] listen` of its own).
    pub on_main_listener: bool,
}

impl Telemetry {
    pub fn new(labels: Labels, on_main_listener: bool) -> Self {
        Self {
            metrics: Metrics::new(labels),
            usage: OnceLock::new(),
            expanded: OnceLock::new(),
            on_main_listener,
        }
    }

    /// Sends usage records to `sink` from now on. Only the first sink counts.
    pub fn attach_usage(&self, sink: usage::UsageSink) -> bool {
        self.usage.set(sink).is_ok()
    }

    pub fn usage(&self) -> Option<&usage::UsageSink> {
        self.usage.get()
    }

    /// Sends expanded-log entries to `sink` from now on. Only the first sink counts.
    pub fn attach_expanded(&self, sink: expanded::ExpandedSink) -> bool {
        self.expanded.set(sink).is_ok()
    }

    pub fn expanded(&self) -> Option<&expanded::ExpandedSink> {
        self.expanded.get()
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("usage", &self.usage.get().is_some())
            .field("expanded", &self.expanded.get().is_some())
            .field("on_main_listener", &self.on_main_listener)
            .finish_non_exhaustive()
    }
}
