//! The lifecycle of a managed backend: cold → starting → ready → draining → cold, and
//! failed (with backoff). One wake serves every request that arrives while the backend is
//! cold or starting; requests wait up to `wake_timeout`. An idle backend is stopped once its
//! idle deadline passes with nothing in flight; a request that arrives while it stops waits
//! for the restart.
//!
//! All transitions happen inside `watch::Sender::send_if_modified`, so the decision to stop
//! and a request taking a lease can never interleave. Time is tokio's, so the whole state
//! machine runs on the paused clock in tests.

use super::provider::{Instance, Provider};
use devassist_core::{Backend, GatewayError, KeepAlive};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Cold,
    Starting,
    Ready,
    Draining,
    Failed,
}

impl Phase {
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

/// Settings of one managed backend.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// Idle time before stopping; `None` keeps it running.
    pub idle_timeout: Option<Duration>,
    /// Longest a request waits for the backend to become ready.
    pub wake_timeout: Duration,
    /// Time a stopping backend gets before it is killed.
    pub stop_grace: Duration,
}

/// The observable state, shared with `/status` and `/api/ps`.
#[derive(Clone)]
pub struct State {
    pub phase: Phase,
    pub since: SystemTime,
    pub backend: Option<Arc<dyn Backend>>,
    pub in_flight: u64,
    /// When an idle backend stops; `None` = never.
    pub idle_deadline: Option<Instant>,
    pub last_error: Option<String>,
    pub wakes: u64,
    pub last_wake: Option<Duration>,
    pub failures: u32,
    pub retry_at: Option<Instant>,
}

pub type MakeBackend = Box<dyn Fn(&str) -> Result<Arc<dyn Backend>, GatewayError> + Send + Sync>;

pub struct Lifecycle {
    name: String,
    settings: LifecycleSettings,
    provider: Arc<dyn Provider>,
    make_backend: MakeBackend,
    state: watch::Sender<State>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Lifecycle {
    pub fn new(
        name: impl Into<String>,
        settings: LifecycleSettings,
        provider: Arc<dyn Provider>,
        make_backend: MakeBackend,
        tasks: TaskTracker,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let (state, _) = watch::channel(State {
            phase: Phase::Cold,
            since: SystemTime::now(),
            backend: None,
            in_flight: 0,
            idle_deadline: None,
            last_error: None,
            wakes: 0,
            last_wake: None,
            failures: 0,
            retry_at: None,
        });
        Arc::new(Self {
            name: name.into(),
            settings,
            provider,
            make_backend,
            state,
            tasks,
            cancel,
        })
    }

    pub fn snapshot(&self) -> State {
        self.state.borrow().clone()
    }

    pub fn settings(&self) -> &LifecycleSettings {
        &self.settings
    }

    /// Takes a request slot, waking the backend if needed. The caller must `release` it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Arc<dyn Backend>, GatewayError> {
        let deadline = Instant::now() + self.settings.wake_timeout;
        let mut rx = self.state.subscribe();
        let mut waited_for_start = false;
        loop {
            let now = Instant::now();
            let mut got = None;
            let mut start = false;
            let mut failed = None;
            self.state.send_if_modified(|s| match s.phase {
                Phase::Ready => {
                    s.in_flight += 1;
                    got = s.backend.clone();
                    true
                }
                Phase::Cold => {
                    Self::begin_start(s);
                    start = true;
                    true
                }
                Phase::Failed if waited_for_start => {
                    failed = Some(s.last_error.clone().unwrap_or_default());
                    false
                }
                Phase::Failed if s.retry_at.is_none_or(|at| at <= now) => {
                    Self::begin_start(s);
                    start = true;
                    true
                }
                Phase::Failed => {
                    failed = Some(s.last_error.clone().unwrap_or_default());
                    false
                }
                Phase::Starting | Phase::Draining => false,
            });
            if let Some(backend) = got {
                return Ok(backend);
            }
            if let Some(error) = failed {
                let mut e = GatewayError::backend_error(format!("backend `{}` failed", self.name))
                    .with_detail(error);
                if let Some(at) = self.state.borrow().retry_at {
                    e = e.with_retry_after(at.saturating_duration_since(now));
                }
                return Err(e);
            }
            if start {
                self.spawn_start();
            }
            if self.state.borrow().phase == Phase::Starting {
                waited_for_start = true;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(GatewayError::backend_unavailable("the gateway is shutting down"));
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(GatewayError::backend_timeout(format!(
                        "backend `{}` did not become ready within {:?}",
                        self.name, self.settings.wake_timeout
                    )));
                }
            }
        }
    }

    /// Ends a request; `keep_alive` (Ollama's) sets how long the backend stays up after it.
    pub fn release(&self, keep_alive: Option<KeepAlive>) {
        let idle = match keep_alive {
            Some(KeepAlive::Forever) => None,
            Some(KeepAlive::For(d)) => Some(d),
            None => self.settings.idle_timeout,
        };
        self.state.send_modify(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.idle_deadline = idle.map(|d| Instant::now() + d);
        });
    }

    /// Stops the backend as soon as nothing is in flight (`keep_alive: 0`).
    pub fn unload(&self) {
        self.state
            .send_modify(|s| s.idle_deadline = Some(Instant::now()));
    }

    fn begin_start(s: &mut State) {
        s.phase = Phase::Starting;
        s.since = SystemTime::now();
        s.backend = None;
    }

    fn spawn_start(self: &Arc<Self>) {
        let this = self.clone();
        self.tasks.spawn(async move { this.run().await });
    }

    /// One run of the backend: start it, serve until idle, crash or shutdown.
    async fn run(self: Arc<Self>) {
        let t0 = Instant::now();
        tracing::info!(backend = %self.name, "Waking backend");
        let started = tokio::select! {
            r = self.provider.start() => r,
            () = self.cancel.cancelled() => {
                self.set_phase(Phase::Cold, None);
                return;
            }
        };
        let instance = match started.and_then(|i| (self.make_backend)(i.base_url()).map(|b| (i, b)))
        {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(backend = %self.name, error = %e, "Backend failed to start");
                self.fail(e.to_string());
                return;
            }
        };
        let (mut instance, backend) = instance;
        let took = t0.elapsed();
        tracing::info!(backend = %self.name, ms = took.as_millis() as u64, "Backend ready");
        let idle = self.settings.idle_timeout;
        self.state.send_modify(|s| {
            s.phase = Phase::Ready;
            s.since = SystemTime::now();
            s.backend = Some(backend);
            s.wakes += 1;
            s.last_wake = Some(took);
            s.failures = 0;
            s.retry_at = None;
            s.last_error = None;
            s.idle_deadline = idle.map(|d| Instant::now() + d);
        });
        self.serve(&mut instance).await;
        match self.state.borrow().phase {
            Phase::Draining => {}
            _ => return,
        }
        tracing::info!(backend = %self.name, "Stopping idle backend");
        instance.stop(self.settings.stop_grace).await;
        self.set_phase(Phase::Cold, None);
    }

    /// Waits while the backend is ready. Returns with the phase set to Draining (stop it)
    /// or Failed (it died).
    async fn serve(&self, instance: &mut Box<dyn Instance>) {
        let mut rx = self.state.subscribe();
        loop {
            let (in_flight, deadline) = {
                let s = rx.borrow_and_update();
                (s.in_flight, s.idle_deadline)
            };
            let idle_at = (in_flight == 0).then_some(deadline).flatten();
            tokio::select! {
                why = instance.exited() => {
                    tracing::warn!(backend = %self.name, error = %why, "Backend exited unexpectedly");
                    self.fail(why);
                    return;
                }
                () = self.cancel.cancelled() => {
                    self.state.send_modify(|s| { s.phase = Phase::Draining; s.backend = None; });
                    return;
                }
                changed = rx.changed() => {
                    if changed.is_err() { return; }
                }
                () = sleep_until_opt(idle_at) => {
                    let now = Instant::now();
                    let drained = self.state.send_if_modified(|s| {
                        let idle = s.in_flight == 0 && s.idle_deadline.is_some_and(|d| d <= now);
                        if idle {
                            s.phase = Phase::Draining;
                            s.since = SystemTime::now();
                            s.backend = None;
                        }
                        idle
                    });
                    if drained { return; }
                }
            }
        }
    }

    fn set_phase(&self, phase: Phase, error: Option<String>) {
        self.state.send_modify(|s| {
            s.phase = phase;
            s.since = SystemTime::now();
            s.backend = None;
            if error.is_some() {
                s.last_error = error;
            }
        });
    }

    fn fail(&self, error: String) {
        self.state.send_modify(|s| {
            s.phase = Phase::Failed;
            s.since = SystemTime::now();
            s.backend = None;
            s.failures += 1;
            // The first failure restarts on the next request; repeated ones back off.
            let backoff = match s.failures {
                0 | 1 => Duration::ZERO,
                n => Duration::from_secs(1u64 << (n - 2).min(6)).min(Duration::from_secs(60)),
            };
            s.retry_at = Some(Instant::now() + backoff);
            s.last_error = Some(error);
        });
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
