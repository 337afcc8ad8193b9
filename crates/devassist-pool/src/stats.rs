//! Per-backend counters, lock-free so the hot path only touches atomics. Also the
//! replica's health as the balancer sees it: a backend that failed a request before its
//! first byte is avoided for a short while.

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
    /// Unix milliseconds until which the balancer avoids this backend; 0 = healthy.
    avoid_until_ms: AtomicU64,
}

/// How long a backend that failed before the first byte is tried only as a last resort.
pub const FAULT_COOLDOWN_MS: u64 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub in_flight: u64,
    pub requests: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub last_activity_ms: Option<u64>,
    pub healthy: bool,
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

    /// The backend failed a request in a way another replica may not (unreachable, timed
    /// out, 5xx): prefer the others for a while.
    pub fn fault(&self) {
        self.avoid_until_ms
            .store(now_ms() + FAULT_COOLDOWN_MS, Relaxed);
    }

    /// The backend answered: it is healthy again.
    pub fn answered(&self) {
        self.avoid_until_ms.store(0, Relaxed);
    }

    pub fn healthy(&self) -> bool {
        self.avoid_until_ms.load(Relaxed) <= now_ms()
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
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
            healthy: self.healthy(),
        }
    }
}
