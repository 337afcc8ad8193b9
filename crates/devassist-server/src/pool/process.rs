//! Child processes the pool starts as backends (`devassist engine`, later `llama-server`,
//! `vllm serve`, `ollama serve`): spawn, learn the address, keep the last lines of output
//! for error messages, stop gracefully.
//!
//! The child reports its address on stdout (`… listening on http://127.0.0.1:PORT`) after
//! binding port 0 itself, so no port is probed-then-bound here. Children run in their own
//! process group and are killed when their handle is dropped; the engine also exits when its
//! stdin closes, so it does not outlive a gateway that was killed with SIGKILL.

use devassist_core::GatewayError;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How to run one backend process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Text before the URL on the stdout line that says the child is ready.
    pub ready_prefix: String,
    /// Path appended to the reported URL to form the backend's base URL (`/v1`).
    pub api_path: String,
    /// Longest time from spawn to the ready line.
    pub start_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping.
    pub stop_grace: Duration,
}

const TAIL_LINES: usize = 40;

/// The last lines a child wrote, for error messages.
#[derive(Debug, Default)]
pub struct LogTail(Mutex<VecDeque<String>>);

impl LogTail {
    fn push(&self, line: String) {
        if let Ok(mut t) = self.0.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }

    /// The last `n` lines, joined.
    pub fn last(&self, n: usize) -> String {
        self.0
            .lock()
            .map(|t| {
                let skip = t.len().saturating_sub(n);
                t.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default()
    }
}

/// A running child.
pub struct Running {
    pub child: Child,
    /// Held open; the engine exits when it closes.
    stdin: Option<ChildStdin>,
    pub base_url: String,
    pub tail: Arc<LogTail>,
}

fn spawn_err(name: &str, msg: impl std::fmt::Display) -> GatewayError {
    GatewayError::backend_unavailable(format!("backend `{name}` failed to start"))
        .with_detail(msg.to_string())
}

/// Spawns the process and waits for its ready line.
pub async fn start(name: &str, spec: &ProcessSpec) -> Result<Running, GatewayError> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| spawn_err(name, format!("cannot run {}: {e}", spec.program.display())))?;
    let tail = Arc::new(LogTail::default());
    let stdin = child.stdin.take();
    if let Some(err) = child.stderr.take() {
        let (tail, name) = (tail.clone(), name.to_string());
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(backend = %name, stream = "stderr", "{line}");
                tail.push(line);
            }
        });
    }
    let Some(out) = child.stdout.take() else {
        return Err(spawn_err(name, "no stdout"));
    };
    let mut lines = BufReader::new(out).lines();
    let wait_ready = async {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(backend = %name, stream = "stdout", "{line}");
            if let Some(url) = line.trim().strip_prefix(spec.ready_prefix.as_str()) {
                return Some(url.trim().trim_end_matches('/').to_string());
            }
            tail.push(line);
        }
        None
    };
    let url = match tokio::time::timeout(spec.start_timeout, wait_ready).await {
        Ok(Some(url)) => url,
        Ok(None) => {
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_default();
            // Give the stderr reader a moment to collect the child's last words.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(spawn_err(
                name,
                format!("exited during start-up ({status}): {}", tail.last(5)),
            ));
        }
        Err(_) => {
            let _ = child.start_kill();
            return Err(GatewayError::backend_timeout(format!(
                "backend `{name}` did not become ready within {:?}",
                spec.start_timeout
            ))
            .with_detail(tail.last(5)));
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    let name_out = name.to_string();
    let tail_out = tail.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(backend = %name_out, stream = "stdout", "{line}");
            tail_out.push(line);
        }
    });
    Ok(Running {
        child,
        stdin,
        base_url: format!("{url}{}", spec.api_path),
        tail,
    })
}

impl Running {
    /// Asks the child to exit (stdin closed, SIGTERM), then kills it after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
