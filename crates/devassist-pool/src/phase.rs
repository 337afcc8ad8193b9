//! The observable state of one managed backend: its phase, what it is doing, and what it
//! did. Shared through a `watch` channel with the requests waiting on it, `/status` and
//! `/api/ps`; only `lifecycle.rs` changes it.

use super::wakes::WakeStats;
use devassist_core::{Backend, GatewayError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Cold,
    Starting,
    Ready,
    Draining,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Cold,
        Phase::Starting,
        Phase::Ready,
        Phase::Draining,
        Phase::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
            Phase::Failed => "failed",
        }
    }
}

/// What a request does when the backend is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCold {
    /// Wait for it, up to `wake_timeout` (then 504).
    #[default]
    Hold,
    /// Start it and answer 503 with `Retry-After` at once, so the caller can poll.
    Reject,
}

impl OnCold {
    pub fn as_str(self) -> &'static str {
        match self {
            OnCold::Hold => "hold",
            OnCold::Reject => "reject",
        }
    }
}

/// Settings of one managed backend.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// Idle time before stopping; `None` keeps it running.
    pub idle_timeout: Option<Duration>,
    /// Longest a request waits for the backend to become ready.
    pub wake_timeout: Duration,
    /// Time a stopping backend gets before it is killed.
    pub stop_grace: Duration,
    pub on_cold: OnCold,
}

/// The observable state.
#[derive(Clone)]
pub struct State {
    pub phase: Phase,
    pub since: SystemTime,
    pub backend: Option<Arc<dyn Backend>>,
    pub in_flight: u64,
    /// When an idle backend stops; `None` = never.
    pub idle_deadline: Option<Instant>,
    /// The last failure or stop problem, for `/status`.
    pub last_error: Option<String>,
    /// The error requests get while the backend is failed.
    pub failure: Option<GatewayError>,
    pub wakes: WakeStats,
    /// Failures in a row: failed starts, and crashes within a minute of becoming ready.
    /// A clean stop or a crash after a longer run ends the streak.
    pub failures: u32,
    /// Crashes of a ready backend since the gateway started.
    pub crashes: u64,
    /// When a failed backend may be started again.
    pub retry_at: Option<Instant>,
    /// When the current start began.
    pub starting_at: Option<Instant>,
    /// A request came while the backend was stopping: start it again right after.
    pub restart_pending: bool,
    /// Where the running backend answers, and its process id when it is a local process.
    pub url: Option<String>,
    pub pid: Option<u32>,
}

impl State {
    pub fn new() -> Self {
        Self {
            phase: Phase::Cold,
            since: SystemTime::now(),
            backend: None,
            in_flight: 0,
            idle_deadline: None,
            last_error: None,
            failure: None,
            wakes: WakeStats::default(),
            failures: 0,
            crashes: 0,
            retry_at: None,
            starting_at: None,
            restart_pending: false,
            url: None,
            pid: None,
        }
    }

    /// Enters a phase without a running backend.
    pub fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.since = SystemTime::now();
        self.backend = None;
        if phase != Phase::Ready {
            self.url = None;
            self.pid = None;
        }
    }

    pub fn begin_start(&mut self, now: Instant) {
        self.enter(Phase::Starting);
        self.starting_at = Some(now);
        self.restart_pending = false;
    }

    /// How long until a start that is under way should be done, from past wakes.
    pub fn expected_ready_in(&self, now: Instant) -> Duration {
        let typical = self
            .wakes
            .average()
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_secs(1));
        let elapsed = self
            .starting_at
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        typical.saturating_sub(elapsed).max(Duration::from_secs(1))
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}
