//! The backend pool: one slot per backend, holding its client or its lifecycle, its limits
//! and its counters. `acquire` hands out a `Lease` that counts the request as in flight
//! (after admission through the slot's limits, and after waking a managed backend that is
//! cold) until the lease — and the stream that carries it — is dropped. `order` ranks the
//! replicas of a model for one request.

pub mod balance;
pub mod budget;
pub mod command;
pub mod external;
pub mod kind;
pub mod lifecycle;
pub mod limit;
mod output;
mod phase;
pub mod process;
pub mod provider;
mod ready;
mod stats;
pub mod supervise;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pool;
#[cfg(test)]
mod tests_process;
mod tracked;
pub mod wakes;

pub use kind::{Protocol, ProviderKind};
pub use lifecycle::{Lifecycle, LifecycleSettings, OnCold, Phase};
pub use limit::{Limiter, Limits};
pub use stats::{SlotStats, StatsSnapshot};
pub use tracked::{failed, tracked};

use balance::{Candidate, Tier};
use devassist_core::{Backend, ErrorKind, GatewayError, KeepAlive, Reached};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
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
    pub protocol: Protocol,
    pub driver: Driver,
    pub stats: SlotStats,
    pub limiter: Limiter,
    /// Requests failed over to this backend from another replica.
    pub retries: budget::RetryBudget,
}

impl Slot {
    pub fn new(name: impl Into<String>, protocol: Protocol, driver: Driver) -> Self {
        Self {
            name: name.into(),
            protocol,
            driver,
            stats: SlotStats::default(),
            limiter: Limiter::default(),
            retries: budget::RetryBudget::default(),
        }
    }

    /// Bounds concurrent and queued requests (`max_concurrent`, `max_queue`).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limiter = Limiter::new(limits);
        self
    }

    pub fn lifecycle(&self) -> Option<&Arc<Lifecycle>> {
        match &self.driver {
            Driver::Managed(l) => Some(l),
            Driver::AlwaysOn(_) => None,
        }
    }

    /// Which provider brings the backend up and down.
    pub fn provider(&self) -> ProviderKind {
        match &self.driver {
            Driver::AlwaysOn(_) => ProviderKind::AlwaysOn,
            Driver::Managed(l) => l.provider_kind(),
        }
    }

    /// Requests in flight plus requests waiting for it.
    pub fn outstanding(&self) -> u64 {
        self.stats.in_flight() + self.limiter.queued()
    }

    fn tier(&self) -> Tier {
        let lifecycle = self.lifecycle().map(|l| l.snapshot());
        let backing_off = lifecycle.as_ref().is_some_and(|s| {
            s.phase == Phase::Failed
                && s.retry_at
                    .is_some_and(|at| at > tokio::time::Instant::now())
        });
        if !self.stats.healthy() || backing_off {
            Tier::Unhealthy
        } else if self.limiter.saturated() {
            Tier::Saturated
        } else if lifecycle.is_some_and(|s| s.phase != Phase::Ready) {
            Tier::Cold
        } else {
            Tier::Warm
        }
    }
}

/// A request's hold on a backend. Dropping it ends the request's in-flight count.
pub struct Lease {
    slot: Arc<Slot>,
    backend: Arc<dyn Backend>,
    keep_alive: Option<KeepAlive>,
    /// The lifecycle's crash count when the lease was taken.
    crashes: u64,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Rewrites an error that a crash of this lease's backend caused into one that says
    /// so. A crash shows up as a dropped connection slightly before the process exit is
    /// seen, so this waits briefly for the exit.
    pub fn explain(&self, err: GatewayError) -> BoxFuture<'static, GatewayError> {
        // Only a broken connection can be a crash; an upstream's own answer cannot.
        let transport = err.upstream_status.is_none()
            && matches!(
                err.kind,
                ErrorKind::BackendError | ErrorKind::BackendUnavailable
            );
        let lifecycle = self.slot.lifecycle().filter(|_| transport).cloned();
        let seen = self.crashes;
        Box::pin(async move {
            let Some(l) = lifecycle else {
                return err;
            };
            match l.crashed_since(seen, Duration::from_millis(500)).await {
                Some(crash) => crash.with_detail(err.to_string()),
                None => err,
            }
        })
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

    /// The order in which to try the replicas `backends` for one request.
    pub fn order(&self, backends: &[usize], affinity: Option<&str>) -> Vec<usize> {
        let candidates = backends
            .iter()
            .filter_map(|&index| {
                self.slots.get(index).map(|s| Candidate {
                    index,
                    name: &s.name,
                    tier: s.tier(),
                    outstanding: s.outstanding(),
                })
            })
            .collect();
        balance::order(candidates, affinity)
    }

    /// The replica that stands for a model in `/api/ps`: a loaded one if any.
    pub fn representative(&self, backends: &[usize]) -> Option<&Arc<Slot>> {
        let slots = || backends.iter().filter_map(|&i| self.slots.get(i));
        slots()
            .find(|s| {
                s.lifecycle()
                    .is_some_and(|l| l.snapshot().phase == Phase::Ready)
            })
            .or_else(|| slots().next())
    }

    /// Takes a lease on backend `index`: admission through its limits, then a wake if it
    /// is managed and not ready.
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
        // Nothing failing here has sent the request anywhere.
        let unsent = |e: GatewayError| match e.reached {
            Reached::Unknown => e.with_reached(Reached::NotSent),
            _ => e,
        };
        let permit = slot.limiter.admit(&slot.name).await.map_err(unsent)?;
        let (backend, crashes) = match &slot.driver {
            Driver::AlwaysOn(b) => (b.clone(), 0),
            Driver::Managed(l) => {
                let backend = match l.try_acquire() {
                    Some(b) => b,
                    None => {
                        let _queued = slot.limiter.enter_queue(&slot.name).map_err(unsent)?;
                        l.acquire().await.map_err(unsent)?
                    }
                };
                (backend, l.crashes())
            }
        };
        slot.stats.begin_request();
        Ok(Lease {
            slot,
            backend,
            keep_alive,
            crashes,
            _permit: permit,
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
