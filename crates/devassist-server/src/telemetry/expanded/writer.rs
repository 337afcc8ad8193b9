//! The expanded-log writer: a tracked background task that takes entries from the channel,
//! and for each batch (what is waiting, up to `BATCH`) redacts, encodes and appends them on
//! a blocking thread, then flushes. On shutdown it writes what is left in the channel
//! before it stops. The file is created readable by its owner only: it holds prompts.

use super::ExpandedEntry;
use crate::config::logging::ExpandedLogSettings;
use crate::telemetry::Telemetry;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Entries the channel holds before new ones are dropped.
pub const CAPACITY: usize = 1024;
/// Entries written together at most.
const BATCH: usize = 64;

/// The running writer.
pub struct ExpandedWriter {
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl ExpandedWriter {
    /// Opens (appends to) `settings.file` and starts writing `telemetry`'s expanded-log
    /// entries to it.
    pub fn start(
        settings: &ExpandedLogSettings,
        telemetry: Arc<Telemetry>,
    ) -> std::io::Result<Self> {
        let file = open(&settings.file)?;
        let (sink, rx) = super::channel(settings.clone(), CAPACITY);
        telemetry.attach_expanded(sink);
        Ok(Self::spawn(file, rx, telemetry))
    }

    /// Starts a writer appending to `file` from the receiving end of `super::channel`.
    pub fn spawn(file: File, rx: mpsc::Receiver<ExpandedEntry>, telemetry: Arc<Telemetry>) -> Self {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let task = Task {
            out: Arc::new(Mutex::new(BufWriter::new(file))),
            telemetry,
        };
        tasks.spawn(task.run(rx, cancel.clone()));
        tasks.close();
        Self { cancel, tasks }
    }

    /// Writes what is waiting and stops, within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.cancel.cancel();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("The expanded-log writer did not finish within its grace period");
        }
    }
}

/// Opens `path` for appending, creating it (and its directory) readable by its owner only.
fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

struct Task {
    out: Arc<Mutex<BufWriter<File>>>,
    telemetry: Arc<Telemetry>,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<ExpandedEntry>, cancel: CancellationToken) {
        loop {
            let first = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                entry = rx.recv() => match entry {
                    Some(e) => e,
                    None => break,
                },
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            self.write(batch).await;
        }
        // Nothing new gets in; what is already in the channel is written.
        rx.close();
        let mut batch = Vec::new();
        while let Some(e) = rx.recv().await {
            batch.push(e);
        }
        if !batch.is_empty() {
            self.write(batch).await;
        }
    }

    async fn write(&self, batch: Vec<ExpandedEntry>) {
        let n = batch.len() as u64;
        let out = self.out.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in batch {
                serde_json::to_writer(&mut *out, &entry.to_json())?;
                out.write_all(b"\n")?;
            }
            out.flush()
        })
        .await;
        let metrics = &self.telemetry.metrics.privacy;
        match result {
            Ok(Ok(())) => metrics.expanded_written(n),
            Ok(Err(e)) => {
                metrics.expanded_dropped(n);
                tracing::warn!(records = n, error = %e, "Cannot write the expanded log");
            }
            Err(e) => {
                metrics.expanded_dropped(n);
                tracing::warn!(records = n, error = %e, "The expanded-log writer's thread failed");
            }
        }
    }
}

impl std::fmt::Debug for ExpandedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpandedWriter").finish_non_exhaustive()
    }
}
