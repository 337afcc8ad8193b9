//! The lifecycle of a managed backend: cold → starting → ready → draining → cold, and
//! failed (with backoff). One wake serves every request that arrives while the backend is
//! cold or starting; requests wait up to `wake_timeout` (`on_cold = "hold"`) or are told to
//! come back (`"reject"`: 503 with `Retry-After`). An idle backend is stopped once its idle
//! deadline passes with nothing in flight; a request that arrives while it stops waits for
//! the restart, which begins as soon as the stop is done.
//!
//! All transitions happen inside `watch::Sender::send_if_modified`, so the decision to stop
//! and a request taking a lease can never interleave. Time is tokio's, so the whole state
//! machine runs on the paused clock in tests.

use super::provider::{Instance, Provider};
use devassist_core::{Backend, ErrorKind, GatewayError, KeepAlive};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use super::phase::{LifecycleSettings, OnCold, Phase, State};

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

/// What one look at the state decided for a waiting request.
enum Step {
    Got(Arc<dyn Backend>),
    Start,
    Fail(GatewayError),
    Wait,
}

/// Why a ready backend stopped serving.
enum Served {
    Idle,
    Crashed(String),
}

/// A backend that crashes within this time after becoming ready continues its failure
/// streak (a crash loop backs off); one that ran longer starts a new streak.
const STABLE_AFTER: Duration = Duration::from_secs(60);

fn shutting_down() -> GatewayError {
    GatewayError::backend_unavailable("the gateway is shutting down")
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
        let (state, _) = watch::channel(State::new());
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

    /// Which provider starts and stops it.
    pub fn provider_kind(&self) -> super::kind::ProviderKind {
        self.provider.kind()
    }

    /// Takes a request slot if the backend is ready now, without waiting or waking it.
    pub fn try_acquire(&self) -> Option<Arc<dyn Backend>> {
        let mut got = None;
        self.state
            .send_if_modified(|s| match (&s.phase, &s.backend) {
                (Phase::Ready, Some(b)) => {
                    s.in_flight += 1;
                    got = Some(b.clone());
                    true
                }
                _ => false,
            });
        got
    }

    /// Takes a request slot, waking the backend if needed. The caller must `release` it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Arc<dyn Backend>, GatewayError> {
        if self.cancel.is_cancelled() {
            return Err(shutting_down());
        }
        let deadline = Instant::now() + self.settings.wake_timeout;
        let mut rx = self.state.subscribe();
        let mut waited_for_start = false;
        loop {
            let now = Instant::now();
            let mut step = Step::Wait;
            self.state.send_if_modified(|s| match s.phase {
                Phase::Ready => match &s.backend {
                    Some(b) => {
                        s.in_flight += 1;
                        step = Step::Got(b.clone());
                        true
                    }
                    None => false,
                },
                Phase::Cold => {
                    s.begin_start(now);
                    step = Step::Start;
                    true
                }
                Phase::Failed if waited_for_start => {
                    step = Step::Fail(self.failure_error(s));
                    false
                }
                Phase::Failed if s.retry_at.is_none_or(|at| at <= now) => {
                    s.begin_start(now);
                    step = Step::Start;
                    true
                }
                Phase::Failed => {
                    step = Step::Fail(self.backoff_error(s, now));
                    false
                }
                Phase::Draining => !std::mem::replace(&mut s.restart_pending, true),
                Phase::Starting => false,
            });
            match step {
                Step::Got(backend) => return Ok(backend),
                Step::Fail(e) => return Err(e),
                Step::Start => self.spawn_start(),
                Step::Wait => {}
            }
            if self.settings.on_cold == OnCold::Reject {
                return Err(self.starting_error(now));
            }
            // Only a start this request waited for makes its failure this request's error;
            // a request that found the backend stopping starts it again itself.
            if rx.borrow().phase == Phase::Starting {
                waited_for_start = true;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Err(shutting_down());
                    }
                }
                () = self.cancel.cancelled() => return Err(shutting_down()),
                () = tokio::time::sleep_until(deadline) => {
                    return Err(GatewayError::backend_timeout(format!(
                        "backend `{}` did not become ready within {}",
                        self.name,
                        humantime::format_duration(self.settings.wake_timeout)
                    )));
                }
            }
        }
    }

    fn failure_error(&self, s: &State) -> GatewayError {
        s.failure.clone().unwrap_or_else(|| {
            GatewayError::backend_error(format!("backend `{}` failed", self.name))
        })
    }

    fn backoff_error(&self, s: &State, now: Instant) -> GatewayError {
        let wait = s
            .retry_at
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or_default()
            .max(Duration::from_secs(1));
        let mut e = GatewayError::backend_unavailable(format!(
            "backend `{}` failed {} times in a row; it will be started again in {}s",
            self.name,
            s.failures,
            wait.as_secs_f64().ceil()
        ))
        .with_retry_after(wait);
        if let Some(last) = &s.last_error {
            e = e.with_detail(last.clone());
        }
        e
    }

    fn starting_error(&self, now: Instant) -> GatewayError {
        let after = self.state.borrow().expected_ready_in(now);
        GatewayError::backend_unavailable(format!(
            "backend `{}` is starting; retry in {}s",
            self.name,
            after.as_secs()
        ))
        .with_retry_after(after)
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

    /// Crashes so far. A request remembers it to tell later whether its backend crashed
    /// under it.
    pub fn crashes(&self) -> u64 {
        self.state.borrow().crashes
    }

    /// If the backend crashes within `within` after `seen` crashes, the error that says so
    /// to a request that was using it. A dropped connection and the process exit arrive
    /// separately; this lines them up.
    pub async fn crashed_since(&self, seen: u64, within: Duration) -> Option<GatewayError> {
        let mut rx = self.state.subscribe();
        let crashed = tokio::time::timeout(within, rx.wait_for(|s| s.crashes > seen)).await;
        match crashed {
            Ok(Ok(s)) => Some(
                GatewayError::backend_error(format!(
                    "backend `{}` crashed while answering this request; it will be restarted",
                    self.name
                ))
                // The backend had the request when it died: it must never get it again.
                .with_reached(devassist_core::Reached::Written)
                .with_detail(s.last_error.clone().unwrap_or_default()),
            ),
            _ => None,
        }
    }

    fn spawn_start(self: &Arc<Self>) {
        let this = self.clone();
        self.tasks.spawn(async move { this.run().await });
    }

    /// One run of the backend: start it, serve until idle, crash or shutdown.
    async fn run(self: Arc<Self>) {
        if self.cancel.is_cancelled() {
            self.state.send_modify(|s| s.enter(Phase::Cold));
            return;
        }
        let t0 = Instant::now();
        tracing::info!(backend = %self.name, "Waking backend");
        let started = tokio::select! {
            r = self.provider.start() => r,
            () = self.cancel.cancelled() => {
                self.state.send_modify(|s| s.enter(Phase::Cold));
                return;
            }
        };
        let mut instance = match started {
            Ok(i) => i,
            Err(e) => return self.fail_start(e),
        };
        let backend = match (self.make_backend)(instance.base_url()) {
            Ok(b) => b,
            Err(e) => {
                let _ = instance.stop(self.settings.stop_grace).await;
                return self.fail_start(e);
            }
        };
        let took = t0.elapsed();
        let url = instance.base_url().to_string();
        tracing::info!(backend = %self.name, ms = took.as_millis() as u64, %url, "Backend ready");
        let idle = self.settings.idle_timeout;
        let pid = instance.pid();
        self.state.send_modify(|s| {
            s.enter(Phase::Ready);
            s.backend = Some(backend);
            s.url = Some(url);
            s.pid = pid;
            s.wakes.record(took);
            s.retry_at = None;
            s.failure = None;
            s.starting_at = None;
            s.idle_deadline = idle.map(|d| Instant::now() + d);
        });
        let ready_at = Instant::now();
        match self.serve(&mut instance).await {
            Served::Crashed(why) => {
                tracing::warn!(backend = %self.name, error = %why, "Backend exited unexpectedly");
                // Requests using it learn at once; new ones wait until the remains are
                // cleared, so a restart never overlaps the clean-up (a stop hook).
                self.state.send_modify(|s| {
                    s.enter(Phase::Draining);
                    s.crashes += 1;
                    s.last_error = Some(why.clone());
                });
                let _ = instance.stop(Duration::ZERO).await;
                let failure = GatewayError::backend_error(format!(
                    "backend `{}` crashed; it will be restarted",
                    self.name
                ))
                .with_detail(why.clone());
                if ready_at.elapsed() >= STABLE_AFTER {
                    self.state.send_modify(|s| s.failures = 0);
                }
                self.fail(why, failure);
            }
            Served::Idle => {
                tracing::info!(backend = %self.name, "Stopping backend");
                let stopped = instance.stop(self.settings.stop_grace).await;
                if let Err(e) = &stopped {
                    tracing::error!(backend = %self.name, error = %e, "Backend did not stop cleanly");
                }
                let cancelled = self.cancel.is_cancelled();
                let mut restart = false;
                self.state.send_modify(|s| {
                    if let Err(e) = stopped {
                        s.last_error = Some(format!("stop: {e}"));
                    }
                    s.enter(Phase::Cold);
                    s.failures = 0;
                    if s.restart_pending && !cancelled {
                        s.begin_start(Instant::now());
                        restart = true;
                    }
                });
                if restart {
                    self.spawn_start();
                }
            }
        }
    }

    /// Waits while the backend is ready. Returns once it must stop (idle or shutdown; the
    /// phase is then Draining) or when it died on its own.
    async fn serve(&self, instance: &mut Box<dyn Instance>) -> Served {
        let mut rx = self.state.subscribe();
        loop {
            let (in_flight, deadline) = {
                let s = rx.borrow_and_update();
                (s.in_flight, s.idle_deadline)
            };
            let idle_at = (in_flight == 0).then_some(deadline).flatten();
            tokio::select! {
                why = instance.exited() => return Served::Crashed(why),
                () = self.cancel.cancelled() => {
                    self.state.send_modify(|s| s.enter(Phase::Draining));
                    return Served::Idle;
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Served::Idle;
                    }
                }
                () = sleep_until_opt(idle_at) => {
                    let now = Instant::now();
                    let drained = self.state.send_if_modified(|s| {
                        let idle = s.in_flight == 0 && s.idle_deadline.is_some_and(|d| d <= now);
                        if idle {
                            s.enter(Phase::Draining);
                        }
                        idle
                    });
                    if drained {
                        return Served::Idle;
                    }
                }
            }
        }
    }

    fn fail_start(&self, e: GatewayError) {
        tracing::warn!(backend = %self.name, error = %e, "Backend failed to start");
        let failure = match e.kind {
            ErrorKind::BackendTimeout | ErrorKind::BackendError => e.clone(),
            _ => GatewayError::backend_error(format!("backend `{}` failed to start", self.name))
                .with_detail(e.to_string()),
        };
        self.fail(e.to_string(), failure);
    }

    fn fail(&self, error: String, failure: GatewayError) {
        self.state.send_modify(|s| {
            s.enter(Phase::Failed);
            s.failures += 1;
            s.restart_pending = false;
            // The first failure restarts on the next request; repeated ones back off.
            let backoff = match s.failures {
                0 | 1 => Duration::ZERO,
                n => Duration::from_secs(1u64 << (n - 2).min(6)).min(Duration::from_secs(60)),
            };
            s.retry_at = Some(Instant::now() + backoff);
            s.starting_at = None;
            s.last_error = Some(error);
            s.failure = Some(failure);
        });
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
