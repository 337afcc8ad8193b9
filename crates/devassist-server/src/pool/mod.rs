//! The backend pool: one slot per configured backend, holding the client, its counters and
//! (for process backends) its lifecycle. `acquire` hands out a `Lease` that counts the
//! request as in flight until the lease — and the stream that carries it — is dropped.

mod stats;
mod tracked;

pub use stats::{SlotStats, StatsSnapshot};
pub use tracked::tracked;

use devassist_core::{Backend, GatewayError};
use std::sync::Arc;

/// One backend and its bookkeeping.
pub struct Slot {
    pub name: String,
    pub kind: &'static str,
    backend: Arc<dyn Backend>,
    pub stats: SlotStats,
}

impl Slot {
    pub fn new(name: impl Into<String>, kind: &'static str, backend: Arc<dyn Backend>) -> Self {
        Self {
            name: name.into(),
            kind,
            backend,
            stats: SlotStats::default(),
        }
    }
}

/// A request's hold on a backend. Dropping it ends the request's in-flight count.
pub struct Lease {
    slot: Arc<Slot>,
}

impl Lease {
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.slot.backend
    }

    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.stats.end_request();
    }
}

#[derive(Default)]
pub struct Pool {
    slots: Vec<Arc<Slot>>,
}

impl Pool {
    pub fn new(slots: Vec<Slot>) -> Self {
        Self {
            slots: slots.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    /// Takes a lease on backend `index`, counting the request as in flight.
    pub async fn acquire(&self, index: usize) -> Result<Lease, GatewayError> {
        let slot = self
            .slots
            .get(index)
            .cloned()
            .ok_or_else(|| GatewayError::internal(format!("no backend slot {index}")))?;
        slot.stats.begin_request();
        Ok(Lease { slot })
    }
}
