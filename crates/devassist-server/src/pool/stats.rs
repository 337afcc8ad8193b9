//! Per-backend counters, lock-free so the hot path only touches atomics.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct SlotStats {
    in_flight: AtomicU64,
    requests: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    /// Unix milliseconds of the last request start or end; 0 = never.
    last_activity_ms: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub in_flight: u64,
    pub requests: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub last_activity_ms: Option<u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl SlotStats {
    pub fn begin_request(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        self.last_activity_ms.store(now_ms(), Relaxed);
    }

    pub fn end_request(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.last_activity_ms.store(now_ms(), Relaxed);
    }

    pub fn completed(&self) {
        self.completed.fetch_add(1, Relaxed);
    }

    pub fn cancelled(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }

    pub fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let last = self.last_activity_ms.load(Relaxed);
        StatsSnapshot {
            in_flight: self.in_flight.load(Relaxed),
            requests: self.requests.load(Relaxed),
            completed: self.completed.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            failed: self.failed.load(Relaxed),
            last_activity_ms: (last != 0).then_some(last),
        }
    }
}
