//! Per-backend admission: at most `max_concurrent` requests hold the backend at once, and at
//! most `max_queue` wait — for a concurrency permit or for the backend to wake. Beyond that a
//! request is refused at once with 503 (overloaded) instead of piling up.
//!
//! The queue count is also what `/status` reports as `queued` and what the balancer adds to
//! a replica's in-flight count.

use devassist_core::GatewayError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The configured limits of one backend; `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent: Option<u32>,
    pub max_queue: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    permits: Option<Arc<Semaphore>>,
    queued: AtomicU64,
}

/// A place in the queue; leaving the queue (by any path) gives it back.
pub struct Queued<'a>(&'a AtomicU64);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            permits: limits
                .max_concurrent
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            queued: AtomicU64::new(0),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Requests waiting now.
    pub fn queued(&self) -> u64 {
        self.queued.load(SeqCst)
    }

    /// Whether every concurrency permit is taken.
    pub fn saturated(&self) -> bool {
        self.permits
            .as_ref()
            .is_some_and(|s| s.available_permits() == 0)
    }

    /// Takes a place in the queue, or refuses the request when the queue is full.
    pub fn enter_queue(&self, backend: &str) -> Result<Queued<'_>, GatewayError> {
        let max = self.limits.max_queue.map(u64::from);
        let taken = self
            .queued
            .fetch_update(SeqCst, SeqCst, |q| match max {
                Some(m) if q >= m => None,
                _ => Some(q + 1),
            })
            .is_ok();
        if !taken {
            return Err(GatewayError::overloaded(format!(
                "backend `{backend}` is overloaded: too many requests are waiting, retry shortly"
            ))
            .with_retry_after(Duration::from_secs(1)));
        }
        Ok(Queued(&self.queued))
    }

    /// A concurrency permit when a limit is set: at once if one is free, else after
    /// queueing for it.
    pub async fn admit(&self, backend: &str) -> Result<Option<OwnedSemaphorePermit>, GatewayError> {
        let Some(sem) = &self.permits else {
            return Ok(None);
        };
        if let Ok(p) = sem.clone().try_acquire_owned() {
            return Ok(Some(p));
        }
        let _queued = self.enter_queue(backend)?;
        sem.clone()
            .acquire_owned()
            .await
            .map(Some)
            .map_err(|_| GatewayError::backend_unavailable("the gateway is shutting down"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devassist_core::ErrorKind;

    #[tokio::test]
    async fn queue_is_bounded_and_given_back() {
        let l = Limiter::new(Limits {
            max_concurrent: None,
            max_queue: Some(2),
        });
        let a = l.enter_queue("b");
        let b = l.enter_queue("b");
        assert!(a.is_ok() && b.is_ok());
        let Err(e) = l.enter_queue("b") else {
            panic!("a third request entered a queue of two")
        };
        assert_eq!(e.kind, ErrorKind::Overloaded);
        assert_eq!(e.status(), 503);
        assert!(e.retry_after.is_some());
        drop(a);
        assert_eq!(l.queued(), 1);
        assert!(l.enter_queue("b").is_ok());
    }

    #[tokio::test]
    async fn permits_bound_concurrency_and_waiters_count_as_queued() {
        let l = Arc::new(Limiter::new(Limits {
            max_concurrent: Some(1),
            max_queue: Some(1),
        }));
        let first = l.admit("b").await;
        assert!(matches!(first, Ok(Some(_))));
        assert!(l.saturated());
        let waiter = tokio::spawn({
            let l = l.clone();
            async move { l.admit("b").await.map(|p| p.is_some()) }
        });
        while l.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let Err(e) = l.admit("b").await else {
            panic!("admitted beyond max_concurrent + max_queue")
        };
        assert_eq!(e.kind, ErrorKind::Overloaded);
        drop(first);
        assert!(matches!(waiter.await, Ok(Ok(true))));
        assert_eq!(l.queued(), 0);
    }
}
