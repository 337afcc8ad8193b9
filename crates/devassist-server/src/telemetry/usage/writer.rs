//! The usage writer: a tracked background task that takes records from the channel and
//! writes them in batches — when `batch` records are waiting or every `flush_every`,
//! whichever comes first — each batch one transaction on a blocking thread. It deletes
//! records older than the retention at start and every `prune_every`. On shutdown it
//! writes what is left in the channel before it stops.
//!
//! It does not wait on the channel: the sink wakes it when a batch is waiting (`Wake`),
//! its flush interval otherwise, so that a request does not wake a thread for its record.

use super::store::Store;
use super::{UsageRecord, Wake};
use crate::telemetry::Telemetry;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records the channel holds before new ones are dropped.
    pub capacity: usize,
    /// Records written together at most.
    pub batch: usize,
    /// Longest a record waits in a partial batch.
    pub flush_every: Duration,
    pub prune_every: Duration,
    /// Records older than this are deleted.
    pub retention: Duration,
}

impl WriterConfig {
    pub fn new(retention_days: u32) -> Self {
        Self {
            capacity: 8192,
            batch: 256,
            flush_every: Duration::from_secs(1),
            prune_every: Duration::from_secs(3600),
            retention: Duration::from_secs(u64::from(retention_days) * 86_400),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records written.
    pub written: u64,
    /// Prune passes run, and records they deleted.
    pub prunes: u64,
    pub pruned: u64,
}

/// The running writer.
pub struct UsageWriter {
    cancel: CancellationToken,
    tasks: TaskTracker,
    progress: watch::Receiver<Progress>,
}

impl UsageWriter {
    /// Starts writing `telemetry`'s usage records to `store`.
    pub fn start(store: Store, config: WriterConfig, telemetry: Arc<Telemetry>) -> Self {
        let ready = Arc::new(Notify::new());
        let wake = Wake {
            batch: config.batch.max(1),
            ready: ready.clone(),
        };
        let (sink, rx) = super::channel_with(config.capacity, Some(wake));
        telemetry.attach_usage(sink);
        Self::spawn(store, config, rx, ready, telemetry)
    }

    /// Starts a writer on the receiving end of a channel whose sink signals `ready`.
    fn spawn(
        store: Store,
        config: WriterConfig,
        rx: mpsc::Receiver<UsageRecord>,
        ready: Arc<Notify>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (progress_tx, progress) = watch::channel(Progress::default());
        let task = Task {
            store: Arc::new(Mutex::new(store)),
            config,
            telemetry,
            progress: progress_tx,
        };
        tasks.spawn(task.run(rx, ready, cancel.clone()));
        tasks.close();
        Self {
            cancel,
            tasks,
            progress,
        }
    }

    /// What the writer has done, as it does it.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Writes what is waiting and stops, within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.cancel.cancel();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("The usage writer did not finish within its grace period");
        }
    }
}

struct Task {
    store: Arc<Mutex<Store>>,
    config: WriterConfig,
    telemetry: Arc<Telemetry>,
    progress: watch::Sender<Progress>,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<UsageRecord>,
        ready: Arc<Notify>,
        cancel: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(self.config.batch);
        // The first flush one interval from now: records sent before the task first runs
        // wait for it like any other.
        let every = self.config.flush_every;
        let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(self.config.prune_every);
        prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let open = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                _ = flush.tick() => {
                    let open = self.take_full_batches(&mut rx, &mut batch).await;
                    self.write(&mut batch).await;
                    open
                }
                _ = prune.tick() => {
                    self.prune().await;
                    true
                }
                () = ready.notified() => {
                    let open = self.take_full_batches(&mut rx, &mut batch).await;
                    flush.reset();
                    open
                }
            };
            if !open {
                break;
            }
        }
        // Nothing new gets in; what is already in the channel is written.
        rx.close();
        while let Some(r) = rx.recv().await {
            batch.push(r);
            if batch.len() >= self.config.batch {
                self.write(&mut batch).await;
            }
        }
        self.write(&mut batch).await;
    }

    /// Moves what is waiting in the channel into `batch`, writing each batch that fills;
    /// a partial batch is left for the next flush. `false` once every sink is gone.
    async fn take_full_batches(
        &mut self,
        rx: &mut mpsc::Receiver<UsageRecord>,
        batch: &mut Vec<UsageRecord>,
    ) -> bool {
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    if batch.len() >= self.config.batch {
                        self.write(batch).await;
                    }
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    async fn write(&mut self, batch: &mut Vec<UsageRecord>) {
        if batch.is_empty() {
            return;
        }
        let records = std::mem::replace(batch, Vec::with_capacity(self.config.batch));
        let n = records.len() as u64;
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(&records)
        })
        .await;
        let metrics = &self.telemetry.metrics;
        match result {
            Ok(Ok(())) => {
                metrics.usage_written(n);
                self.progress.send_modify(|p| p.written += n);
            }
            Ok(Err(e)) => {
                metrics.usage_write_error();
                metrics.usage_dropped(n);
                tracing::warn!(records = n, error = %e, "Cannot write usage records");
            }
            Err(e) => {
                metrics.usage_write_error();
                metrics.usage_dropped(n);
                tracing::warn!(records = n, error = %e, "The usage writer's thread failed");
            }
        }
    }

    async fn prune(&self) {
        let Some(before) = SystemTime::now().checked_sub(self.config.retention) else {
            return;
        };
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .prune(before)
        })
        .await;
        if let Ok(Ok(n)) = &result {
            self.progress.send_modify(|p| {
                p.prunes += 1;
                p.pruned += *n as u64;
            });
        }
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(records = n, "Old usage records deleted"),
            Ok(Err(e)) => tracing::warn!(error = %e, "Cannot delete old usage records"),
            Err(e) => tracing::warn!(error = %e, "The usage writer's thread failed"),
        }
    }
}

impl std::fmt::Debug for UsageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageWriter")
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}
