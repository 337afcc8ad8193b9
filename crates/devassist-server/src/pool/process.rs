//! Child processes the pool starts as backends (`devassist engine`, `llama-server`,
//! `vllm serve`, `ollama serve`): spawn, learn the address, keep the last lines of output
//! for error messages, stop gracefully, and never leave one behind.
//!
//! No orphans: each child leads its own process group, which is signalled as a whole when
//! it stops (a wrapper script's children stop too), and on Linux the kernel sends the child
//! SIGTERM when devassist dies, even by SIGKILL (`PR_SET_PDEATHSIG`). The engine also exits
//! when its stdin closes. Ports and readiness are in `ready.rs`.

use super::output::{Output, ReadyLine};
use super::ready::{self, PORT_ATTEMPTS, with_port};
use devassist_core::GatewayError;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use super::output::LogTail;

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
    child: Child,
    /// Held open; the engine exits when it closes.
    stdin: Option<ChildStdin>,
    /// The child's process group (its own pid).
    group: Option<i32>,
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
    let mut cmd = Command::new(&spec.program);
    cmd.args(spec.args.iter().map(|a| with_port(a, port)))
        .envs(spec.env.iter().map(|(k, v)| (k, with_port(v, port))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(&mut cmd);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        Failure::Other(start_error(
            name,
            format!("cannot run {}: {e}", spec.program.display()),
        ))
    })?;
    let (found, mut lines) = mpsc::unbounded_channel();
    let mut output = Output::new();
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
        base_url: String::new(),
        output,
    };
    let ready = tokio::time::timeout_at(deadline, running.wait_ready(spec, port, &mut lines));
    match ready.await {
        Ok(Ok(url)) => {
            running.base_url = url;
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
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
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
    /// after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        self.signal_group(nix::sys::signal::Signal::SIGTERM);
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

    fn signal_group(&self, signal: nix::sys::signal::Signal) {
        if let Some(g) = self.group {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(g), signal);
        }
    }

    fn kill_group(&mut self) {
        self.signal_group(nix::sys::signal::Signal::SIGKILL);
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

/// Makes the kernel send the child SIGTERM when devassist dies, even by SIGKILL, so a
/// crashed or killed gateway leaves no backend behind. SIGTERM rather than SIGKILL so that
/// servers with worker processes (vLLM, Ollama) stop their workers too.
///
/// The signal follows the thread that spawned the child: children are spawned from tokio
/// worker threads, which live as long as the runtime.
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "`pre_exec` is unsafe because its closure runs between fork and exec, where only \
              async-signal-safe calls are allowed; the closure makes two raw syscalls \
              (prctl, getppid) and allocates nothing"
)]
fn die_with_parent(cmd: &mut Command) {
    use nix::errno::Errno;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure only calls prctl(2) and getppid(2), both async-signal-safe, and
    // builds its error from a raw errno without allocating.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            // devassist may have died between fork and prctl: then no signal would come.
            if nix::unistd::getppid() != parent {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}
