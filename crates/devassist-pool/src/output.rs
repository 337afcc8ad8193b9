//! A child's stdout and stderr: every line goes to devassist's log (target
//! `devassist::backend`, with the backend's name), the last lines are kept for error
//! messages, a line announcing readiness is reported once, and the supervisor's report of
//! the backend's pid is taken out of the stream.
//!
//! The readers drain both pipes for the child's whole life so it never blocks on a full pipe.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const TAIL_LINES: usize = 40;

/// The last lines a child wrote, for error messages.
#[derive(Debug, Default)]
pub struct LogTail(Mutex<VecDeque<String>>);

impl LogTail {
    pub fn push(&self, line: String) {
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

    /// Whether any kept line contains `needle` (ASCII case-insensitive).
    pub fn contains_any(&self, needles: &[&str]) -> bool {
        self.0
            .lock()
            .map(|t| {
                t.iter().any(|l| {
                    let l = l.to_ascii_lowercase();
                    needles.iter().any(|n| l.contains(n))
                })
            })
            .unwrap_or(false)
    }
}

/// What a ready line carried: the rest of the line after the configured text.
pub type ReadyLine = String;

/// The reader tasks of one child.
pub struct Output {
    pub tail: Arc<LogTail>,
    readers: Vec<JoinHandle<()>>,
    /// Where the supervisor's pid line goes, when the child is a supervisor.
    pid: Option<watch::Sender<Option<u32>>>,
}

impl Output {
    pub fn new() -> Self {
        Self {
            tail: Arc::new(LogTail::default()),
            readers: Vec::new(),
            pid: None,
        }
    }

    /// The child is the supervisor: pipes read from now on look for its report of the
    /// backend's pid (`supervise::PID_LINE`), which is neither logged nor kept.
    pub fn watch_supervisor(&mut self) -> watch::Receiver<Option<u32>> {
        let (tx, rx) = watch::channel(None);
        self.pid = Some(tx);
        rx
    }

    /// Reads `pipe` line by line until it closes. Lines containing `ready` are sent on
    /// `found` (what follows the marker) instead of being kept in the tail.
    pub fn read(
        &mut self,
        backend: &str,
        stream: &'static str,
        pipe: impl AsyncRead + Unpin + Send + 'static,
        ready: Option<String>,
        found: mpsc::UnboundedSender<ReadyLine>,
    ) {
        let tail = self.tail.clone();
        let backend = backend.to_string();
        let pid = self.pid.clone();
        self.readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            loop {
                let line = match lines.next_line().await {
                    Ok(Some(line)) => line,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(target: "devassist::backend", backend = %backend, stream, error = %e, "Cannot read child output");
                        break;
                    }
                };
                if let Some(tx) = &pid
                    && let Some(reported) = super::supervise::reported_pid(&line)
                {
                    tracing::debug!(target: "devassist::backend", backend = %backend, pid = reported, "Backend started under its supervisor");
                    tx.send_replace(Some(reported));
                    continue;
                }
                tracing::info!(target: "devassist::backend", backend = %backend, stream, "{line}");
                if let Some(rest) = ready
                    .as_deref()
                    .and_then(|m| line.find(m).map(|at| line[at + m.len()..].trim()))
                {
                    let _ = found.send(rest.to_string());
                }
                tail.push(line);
            }
        }));
    }

    /// Waits (at most `within`) until both pipes are closed, so the tail holds a dead
    /// child's last words.
    pub async fn drained(&mut self, within: Duration) {
        let mut readers = std::mem::take(&mut self.readers);
        let all = futures::future::join_all(readers.iter_mut());
        let _ = tokio::time::timeout(within, all).await;
        for r in &readers {
            r.abort();
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // A grandchild can keep a pipe open after the child is gone; stop reading it.
        for r in &self.readers {
            r.abort();
        }
    }
}
