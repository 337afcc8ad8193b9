//! The backend pool: one slot per backend, holding its client or its lifecycle, and its
//! counters. `acquire` hands out a `Lease` that counts the request as in flight (waking a
//! managed backend first if it is cold) until the lease — and the stream that carries it —
//! is dropped.

pub mod lifecycle;
pub mod process;
pub mod provider;
mod stats;
#[cfg(test)]
mod tests;
mod tracked;

pub use lifecycle::{Lifecycle, LifecycleSettings, Phase};
pub use stats::{SlotStats, StatsSnapshot};
pub use tracked::tracked;

use devassist_core::{Backend, GatewayError, KeepAlive};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How a slot gets its backend.
pub enum Driver {
    /// A remote backend that is always there.
    AlwaysOn(Arc<dyn Backend>),
    /// A backend the pool starts on demand and stops when idle.
    Managed(Arc<Lifecycle>),
}

/// One backend and its bookkeeping.
pub struct Slot {
    pub name: String,
    pub kind: &'static str,
    pub driver: Driver,
    pub stats: SlotStats,
}

impl Slot {
    pub fn new(name: impl Into<String>, kind: &'static str, driver: Driver) -> Self {
        Self {
            name: name.into(),
            kind,
            driver,
            stats: SlotStats::default(),
        }
    }

    pub fn lifecycle(&self) -> Option<&Arc<Lifecycle>> {
        match &self.driver {
            Driver::Managed(l) => Some(l),
            Driver::AlwaysOn(_) => None,
        }
    }
}

/// A request's hold on a backend. Dropping it ends the request's in-flight count.
pub struct Lease {
    slot: Arc<Slot>,
    backend: Arc<dyn Backend>,
    keep_alive: Option<KeepAlive>,
}

impl Lease {
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.stats.end_request();
        if let Some(l) = self.slot.lifecycle() {
            l.release(self.keep_alive);
        }
    }
}

pub struct Pool {
    slots: Vec<Arc<Slot>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(Vec::new(), TaskTracker::new(), CancellationToken::new())
    }
}

impl Pool {
    /// `tasks` and `cancel` are the ones the managed slots' lifecycles were built with.
    pub fn new(slots: Vec<Slot>, tasks: TaskTracker, cancel: CancellationToken) -> Self {
        Self {
            slots: slots.into_iter().map(Arc::new).collect(),
            tasks,
            cancel,
        }
    }

    pub fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    /// Takes a lease on backend `index`, waking it if it is managed and cold.
    pub async fn acquire(
        &self,
        index: usize,
        keep_alive: Option<KeepAlive>,
    ) -> Result<Lease, GatewayError> {
        let slot = self
            .slots
            .get(index)
            .cloned()
            .ok_or_else(|| GatewayError::internal(format!("no backend slot {index}")))?;
        let backend = match &slot.driver {
            Driver::AlwaysOn(b) => b.clone(),
            Driver::Managed(l) => l.acquire().await?,
        };
        slot.stats.begin_request();
        Ok(Lease {
            slot,
            backend,
            keep_alive,
        })
    }

    /// Stops backend `index` once nothing is in flight (`keep_alive: 0`).
    pub fn unload(&self, index: usize) {
        if let Some(l) = self.slots.get(index).and_then(|s| s.lifecycle()) {
            l.unload();
        }
    }

    /// Stops every managed backend and waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.cancel.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("Some backends did not stop within the grace period");
        }
    }
}
