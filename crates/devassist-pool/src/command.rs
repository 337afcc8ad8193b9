//! The `command` provider: operator hooks that start and stop a backend devassist does not
//! run itself — a GPU VM, a Cloud Run service, a Kubernetes Deployment.
//!
//! `start` runs once per wake; the last `http(s)://` line it prints is the backend's root
//! URL (else the configured `url` is used). `status` is then polled until it exits 0; it may
//! print the URL too. While the backend is up, `status` runs every 30 s and three failures in
//! a row count as a crash. `stop` runs at idle stop and at shutdown. Each hook runs as
//! `sh -c` in its own process group with its own timeout, and gets `DEVASSIST_BACKEND`,
//! `DEVASSIST_HOOK` and (once known) `DEVASSIST_URL` in its environment.

use super::output::Output;
use super::provider::{Instance, Provider};
use devassist_core::GatewayError;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Time between two health checks of a ready backend.
const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// Failed health checks in a row that count as a crash.
const HEALTH_FAILURES: u32 = 3;

#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub start: String,
    pub stop: Option<String>,
    pub status: Option<String>,
    pub start_timeout: Duration,
    pub stop_timeout: Duration,
    pub status_timeout: Duration,
    /// Time between two `status` runs while waiting for the backend.
    pub status_interval: Duration,
    /// Longest time from the start hook to a ready status.
    pub ready_timeout: Duration,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// The backend's base URL when the hooks print none.
    pub url: Option<String>,
    /// Appended to a URL a hook prints to form the base URL (`/v1`).
    pub api_path: String,
}

pub struct CommandProvider {
    pub name: String,
    pub spec: Arc<CommandSpec>,
}

/// What one hook run produced.
struct Ran {
    success: bool,
    status: String,
    /// The last `http(s)://` line on stdout.
    url: Option<String>,
    tail: String,
}

enum Hook {
    Start,
    Stop,
    Status,
}

impl Hook {
    fn as_str(&self) -> &'static str {
        match self {
            Hook::Start => "start",
            Hook::Stop => "stop",
            Hook::Status => "status",
        }
    }
}

fn hook_error(name: &str, what: &str, ran: &Ran) -> GatewayError {
    GatewayError::backend_error(format!("backend `{name}` failed to start: {what}"))
        .with_detail(format!("{} ({}): {}", what, ran.status, ran.tail))
}

async fn run(
    name: &str,
    spec: &CommandSpec,
    hook: Hook,
    script: &str,
    timeout: Duration,
    url: Option<&str>,
) -> Result<Ran, GatewayError> {
    let which = hook.as_str();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("DEVASSIST_BACKEND", name)
        .env("DEVASSIST_HOOK", which)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(u) = url {
        cmd.env("DEVASSIST_URL", u);
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let label = format!("{name} {which} hook");
    let mut child = cmd.spawn().map_err(|e| {
        GatewayError::backend_error(format!("backend `{name}` failed to start"))
            .with_detail(format!("cannot run the {which} hook: {e}"))
    })?;
    let group = child.id().and_then(|p| i32::try_from(p).ok());
    let mut output = Output::new();
    let (unused, _) = mpsc::unbounded_channel();
    if let Some(err) = child.stderr.take() {
        output.read(&label, "stderr", err, None, unused.clone());
    }
    let stdout = child.stdout.take();
    let tail = output.tail.clone();
    let collect = async {
        let mut url = None;
        if let Some(out) = stdout {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "devassist::backend", backend = %label, stream = "stdout", "{line}");
                let t = line.trim();
                if t.starts_with("http://") || t.starts_with("https://") {
                    url = Some(t.trim_end_matches('/').to_string());
                }
                tail.push(line);
            }
        }
        url
    };
    let both = async { tokio::join!(collect, child.wait()) };
    match tokio::time::timeout(timeout, both).await {
        Ok((url, status)) => {
            output.drained(Duration::from_millis(200)).await;
            let status = status.map_err(|e| {
                GatewayError::backend_error(format!("backend `{name}`: the {which} hook failed"))
                    .with_detail(e.to_string())
            })?;
            Ok(Ran {
                success: status.success(),
                status: status.to_string(),
                url,
                tail: output.tail.last(5),
            })
        }
        Err(_) => {
            if let Some(g) = group {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(g),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(GatewayError::backend_timeout(format!(
                "backend `{name}`: the {which} hook did not finish within {}",
                humantime::format_duration(timeout)
            ))
            .with_detail(output.tail.last(5)))
        }
    }
}

impl CommandProvider {
    fn with_api_path(&self, root: String) -> String {
        format!("{root}{}", self.spec.api_path)
    }

    /// Polls `status` until it succeeds; returns the URL it printed, if any.
    async fn wait_ready(
        &self,
        script: &str,
        since: Instant,
        url: Option<&str>,
    ) -> Result<Option<String>, GatewayError> {
        let spec = &self.spec;
        loop {
            match run(
                &self.name,
                spec,
                Hook::Status,
                script,
                spec.status_timeout,
                url,
            )
            .await
            {
                Ok(ran) if ran.success => return Ok(ran.url),
                Ok(ran) => {
                    tracing::debug!(backend = %self.name, status = %ran.status, "Backend not ready yet")
                }
                Err(e) => {
                    tracing::warn!(backend = %self.name, error = %e, "Status hook failed")
                }
            }
            if since.elapsed() + spec.status_interval > spec.ready_timeout {
                return Err(GatewayError::backend_timeout(format!(
                    "backend `{}` did not become ready within {}",
                    self.name,
                    humantime::format_duration(spec.ready_timeout)
                )));
            }
            tokio::time::sleep(spec.status_interval).await;
        }
    }
}

#[async_trait::async_trait]
impl Provider for CommandProvider {
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError> {
        let spec = &self.spec;
        let since = Instant::now();
        let ran = run(
            &self.name,
            spec,
            Hook::Start,
            &spec.start,
            spec.start_timeout,
            None,
        )
        .await?;
        if !ran.success {
            return Err(hook_error(&self.name, "the start hook failed", &ran));
        }
        let mut url = ran
            .url
            .map(|u| self.with_api_path(u))
            .or_else(|| spec.url.clone());
        if let Some(status) = &spec.status {
            match self.wait_ready(status, since, url.as_deref()).await {
                Ok(Some(printed)) => url = Some(self.with_api_path(printed)),
                Ok(None) => {}
                Err(e) => {
                    // Do not leave a half-started (and billed) instance behind.
                    if let Some(stop) = &spec.stop {
                        let _ = run(
                            &self.name,
                            spec,
                            Hook::Stop,
                            stop,
                            spec.stop_timeout,
                            url.as_deref(),
                        )
                        .await;
                    }
                    return Err(e);
                }
            }
        }
        let Some(url) = url else {
            return Err(GatewayError::backend_error(format!(
                "backend `{}` failed to start",
                self.name
            ))
            .with_detail("the start hook printed no URL and no `url` is configured"));
        };
        Ok(Box::new(Running {
            name: self.name.clone(),
            spec: spec.clone(),
            url,
        }))
    }

    fn kind(&self) -> super::kind::ProviderKind {
        super::kind::ProviderKind::Command
    }
}

struct Running {
    name: String,
    spec: Arc<CommandSpec>,
    url: String,
}

#[async_trait::async_trait]
impl Instance for Running {
    fn base_url(&self) -> &str {
        &self.url
    }

    async fn exited(&mut self) -> String {
        let Some(status) = self.spec.status.clone() else {
            return std::future::pending().await;
        };
        let mut failures = 0;
        loop {
            tokio::time::sleep(HEALTH_INTERVAL).await;
            let spec = &self.spec;
            let ran = run(
                &self.name,
                spec,
                Hook::Status,
                &status,
                spec.status_timeout,
                Some(&self.url),
            )
            .await;
            match ran {
                Ok(r) if r.success => failures = 0,
                Ok(r) => {
                    failures += 1;
                    if failures >= HEALTH_FAILURES {
                        return format!(
                            "the status hook failed {failures} times in a row ({}): {}",
                            r.status, r.tail
                        );
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures >= HEALTH_FAILURES {
                        return format!("the status hook failed {failures} times in a row: {e}");
                    }
                }
            }
        }
    }

    async fn stop(self: Box<Self>, _grace: Duration) -> Result<(), String> {
        let Some(stop) = &self.spec.stop else {
            return Ok(());
        };
        let spec = &self.spec;
        match run(
            &self.name,
            spec,
            Hook::Stop,
            stop,
            spec.stop_timeout,
            Some(&self.url),
        )
        .await
        {
            Ok(r) if r.success => Ok(()),
            Ok(r) => Err(format!("the stop hook failed ({}): {}", r.status, r.tail)),
            Err(e) => Err(e.to_string()),
        }
    }
}
