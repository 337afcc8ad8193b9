//! Child processes the pool starts as backends (`devassist engine`, `llama-server`,
//! `vllm serve`, `ollama serve`): spawn, learn the address, keep the last lines of output
//! for error messages, stop gracefully, and never leave one behind.
//!
//! No orphans: in the gateway each child runs under the supervisor (`supervise.rs`, this
//! binary's `supervise` mode), which puts it in its own process group, adopts whatever it
//! leaves behind, and kills all of it when the gateway asks or dies, even by SIGKILL. Without
//! a supervisor (set with [`supervise_with`]; the server's own tests run without one) the
//! child leads its own process group, which is signalled as a whole when it stops, but a
//! gateway killed with SIGKILL leaves it running. The engine also exits when its stdin
//! closes. Ports and readiness are in `ready.rs`.

use super::output::{Output, ReadyLine};
use super::ready::{self, PORT_ATTEMPTS, with_port};
use super::supervise;
use devassist_core::GatewayError;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use super::output::LogTail;

/// The supervisor program (this binary), once the gateway has said which it is.
static SUPERVISOR: OnceLock<PathBuf> = OnceLock::new();

/// Runs every backend process started from now on under `program`'s `supervise` mode
/// (the devassist binary). Called once at start-up; later calls are ignored.
pub fn supervise_with(program: PathBuf) {
    let _ = SUPERVISOR.set(program);
}

/// How long the gateway waits for the supervisor to exit after asking it to kill everything,
/// before it kills the backend's group and the supervisor itself.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// How long after its start the supervisor may take to report the backend's pid.
const PID_WAIT: Duration = Duration::from_secs(1);

/// How to run one backend process. `{port}` in `args`, `env` values, `url` and `ready_url`
/// is replaced by a port devassist picks for each start.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Text on a stdout or stderr line that says the child is ready. When what follows it
    /// is a URL, that is where the child listens (it bound port 0 itself).
    pub ready_line: Option<String>,
    /// URL polled until it answers 200.
    pub ready_url: Option<String>,
    /// Time between two probes of `ready_url`.
    pub ready_interval: Duration,
    /// The backend's base URL. `None`: the URL on the ready line followed by `api_path`.
    pub url: Option<String>,
    /// Appended to a URL the child reports to form the base URL (`/v1`).
    pub api_path: String,
    /// Longest time from spawn to ready, port retries included.
    pub start_timeout: Duration,
}

impl ProcessSpec {
    fn needs_port(&self) -> bool {
        let has = |s: &str| s.contains("{port}");
        self.args.iter().any(|a| has(a))
            || self.env.iter().any(|(_, v)| has(v))
            || self.url.as_deref().is_some_and(has)
            || self.ready_url.as_deref().is_some_and(has)
    }
}

/// A running child.
pub struct Running {
    /// The backend process, or its supervisor.
    child: Child,
    /// Held open; the engine exits when it closes.
    stdin: Option<ChildStdin>,
    /// The child's process group (its own pid).
    group: Option<i32>,
    /// With a supervisor: the backend's pid, once the supervisor has reported it.
    supervised: Option<watch::Receiver<Option<u32>>>,
    pub base_url: String,
    output: Output,
}

fn start_error(name: &str, msg: impl std::fmt::Display) -> GatewayError {
    GatewayError::backend_error(format!("backend `{name}` failed to start"))
        .with_detail(msg.to_string())
}

enum Failure {
    /// The child could not bind the port it was given: try another.
    AddressInUse(GatewayError),
    Other(GatewayError),
}

/// Spawns the process and waits until it is ready.
pub async fn start(name: &str, spec: &ProcessSpec) -> Result<Running, GatewayError> {
    start_trying(name, spec, &[]).await
}

/// `start`, trying the ports in `first` before random ones (tests force a collision).
pub(crate) async fn start_trying(
    name: &str,
    spec: &ProcessSpec,
    first: &[u16],
) -> Result<Running, GatewayError> {
    let deadline = Instant::now() + spec.start_timeout;
    if !spec.needs_port() {
        return match start_once(name, spec, None, deadline).await {
            Ok(r) => Ok(r),
            Err(Failure::AddressInUse(e) | Failure::Other(e)) => Err(e),
        };
    }
    let mut last = None;
    for attempt in 0..PORT_ATTEMPTS {
        let port = match first.get(attempt) {
            Some(&p) => p,
            None => ready::pick_port().await,
        };
        match start_once(name, spec, Some(port), deadline).await {
            Ok(r) => return Ok(r),
            Err(Failure::AddressInUse(e)) => {
                tracing::warn!(backend = %name, port, "Port already in use: starting again on another");
                last = Some(e);
            }
            Err(Failure::Other(e)) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| start_error(name, "no port to try")))
}

async fn start_once(
    name: &str,
    spec: &ProcessSpec,
    port: Option<u16>,
    deadline: Instant,
) -> Result<Running, Failure> {
    let supervisor = SUPERVISOR.get();
    let mut cmd = match supervisor {
        Some(program) => supervise::command(program, &spec.program),
        None => Command::new(&spec.program),
    };
    cmd.args(spec.args.iter().map(|a| with_port(a, port)))
        .envs(spec.env.iter().map(|(k, v)| (k, with_port(v, port))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A supervisor killed outright could not take the backend with it: it is asked to.
        .kill_on_drop(supervisor.is_none())
        // Its own group: a Ctrl-C meant for the gateway does not reach the backend, which
        // keeps serving the requests the gateway is draining.
        .process_group(0);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let program = supervisor.map_or(spec.program.as_path(), PathBuf::as_path);
        Failure::Other(start_error(
            name,
            format!("cannot run {}: {e}", program.display()),
        ))
    })?;
    let (found, mut lines) = mpsc::unbounded_channel();
    let mut output = Output::new();
    let supervised = supervisor.map(|_| output.watch_supervisor());
    if let Some(out) = child.stdout.take() {
        output.read(name, "stdout", out, spec.ready_line.clone(), found.clone());
    }
    if let Some(err) = child.stderr.take() {
        output.read(name, "stderr", err, spec.ready_line.clone(), found);
    }
    let mut running = Running {
        stdin: child.stdin.take(),
        group: child.id().and_then(|p| i32::try_from(p).ok()),
        child,
        supervised,
        base_url: String::new(),
        output,
    };
    let ready = tokio::time::timeout_at(deadline, running.wait_ready(spec, port, &mut lines));
    match ready.await {
        Ok(Ok(url)) => {
            running.base_url = url;
            running.backend_pid_reported().await;
            Ok(running)
        }
        Ok(Err(Exit::Died(status))) => {
            running.output.drained(Duration::from_millis(200)).await;
            let tail = &running.output.tail;
            let e = start_error(
                name,
                format!("exited during start-up ({status}): {}", tail.last(5)),
            );
            if port.is_some() && ready::address_in_use(tail) {
                Err(Failure::AddressInUse(e))
            } else {
                Err(Failure::Other(e))
            }
        }
        Ok(Err(Exit::Misconfigured(why))) => {
            running.kill_group();
            Err(Failure::Other(start_error(name, why)))
        }
        Err(_) => {
            running.kill_group();
            Err(Failure::Other(
                GatewayError::backend_timeout(format!(
                    "backend `{name}` did not become ready within {}",
                    humantime::format_duration(spec.start_timeout)
                ))
                .with_detail(running.output.tail.last(5)),
            ))
        }
    }
}

enum Exit {
    Died(String),
    Misconfigured(String),
}

impl Running {
    /// The backend's pid (not its supervisor's).
    pub fn pid(&self) -> Option<u32> {
        match &self.supervised {
            Some(reported) => *reported.borrow(),
            None => self.child.id(),
        }
    }

    /// Waits (briefly) for the supervisor's report of the backend's pid: it is written right
    /// after the start, but on stderr, which is read apart from the ready line on stdout.
    async fn backend_pid_reported(&mut self) {
        if let Some(reported) = &mut self.supervised {
            let _ = tokio::time::timeout(PID_WAIT, reported.wait_for(Option::is_some)).await;
        }
    }

    pub fn tail(&self) -> &LogTail {
        &self.output.tail
    }

    async fn died(&mut self) -> Exit {
        let status = self.child.wait().await;
        Exit::Died(
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string()),
        )
    }

    /// Waits for the ready line, then for the probe; returns the base URL.
    async fn wait_ready(
        &mut self,
        spec: &ProcessSpec,
        port: Option<u16>,
        lines: &mut mpsc::UnboundedReceiver<ReadyLine>,
    ) -> Result<String, Exit> {
        let mut reported = None;
        if spec.ready_line.is_some() {
            let rest = tokio::select! {
                line = lines.recv() => line,
                exit = self.died() => return Err(exit),
            };
            let Some(rest) = rest else {
                // Both pipes closed without the line: the child is exiting.
                return Err(self.died().await);
            };
            reported = rest
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                .map(|u| u.trim_end_matches('/').to_string());
        }
        let base = match (&spec.url, reported) {
            (Some(url), _) => with_port(url, port),
            (None, Some(root)) => format!("{root}{}", spec.api_path),
            (None, None) => {
                return Err(Exit::Misconfigured(
                    "the ready line carried no URL and no `url` is configured".into(),
                ));
            }
        };
        if let Some(probe) = &spec.ready_url {
            let url = with_port(probe, port);
            let client = ready::probe_client();
            loop {
                tokio::select! {
                    ok = ready::probe(&client, &url) => if ok { break },
                    exit = self.died() => return Err(exit),
                }
                tokio::select! {
                    () = tokio::time::sleep(spec.ready_interval) => {}
                    exit = self.died() => return Err(exit),
                }
            }
        }
        Ok(base)
    }

    /// Resolves when the child exits on its own, with a description for the error message.
    pub async fn exited(&mut self) -> String {
        let (Exit::Died(status) | Exit::Misconfigured(status)) = self.died().await;
        self.output.drained(Duration::from_millis(200)).await;
        format!("process exited ({status}): {}", self.output.tail.last(5))
    }

    /// Asks the child to exit (stdin closed, SIGTERM to its group), then kills the group
    /// after `grace`. A supervised backend is stopped through its supervisor, which kills
    /// whatever is left below it.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        if self.supervised.is_some() {
            return self.stop_supervised(grace).await;
        }
        self.signal_group(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(pid = ?self.child.id(), "Backend did not stop within its grace period: killing it");
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        // Whatever the child started and left behind in its group goes too.
        self.kill_group();
    }

    async fn stop_supervised(mut self, grace: Duration) {
        if !grace.is_zero() {
            // The supervisor passes it on to the backend's group.
            self.signal_group(Signal::SIGTERM);
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
            tracing::warn!(pid = ?self.pid(), "Backend did not stop within its grace period: killing it");
        }
        self.signal_group(supervise::KILL_NOW);
        if tokio::time::timeout(KILL_WAIT, self.child.wait())
            .await
            .is_err()
        {
            tracing::error!(pid = ?self.pid(), "The backend's supervisor did not exit: killing both");
            self.signal_backend_group(Signal::SIGKILL);
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(g) = self.group {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(g), signal);
        }
    }

    /// The supervised backend's own process group (its pid), when it was reported.
    fn signal_backend_group(&self, signal: Signal) {
        if let Some(pid) = self.pid().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    fn kill_group(&mut self) {
        if self.supervised.is_some() {
            // Not the supervisor itself: it must live to kill what the backend left.
            self.signal_group(supervise::KILL_NOW);
            self.signal_backend_group(Signal::SIGKILL);
            return;
        }
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.start_kill();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A start abandoned half-way (shutdown, timeout) must not leave the child running.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_group();
        }
    }
}
