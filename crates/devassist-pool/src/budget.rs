//! A retry budget per backend: how many failed-over requests a replica takes, as a share of
//! the requests it gets, so that a fault on one replica cannot double the load on the
//! others (Finagle's and linkerd's retry budgets). Counts over a sliding window of two
//! buckets on tokio's clock.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Length of one bucket; the window is this bucket and the previous one.
const BUCKET: Duration = Duration::from_secs(10);
/// Retries allowed per window on top of the share, so a quiet backend can still take one.
const MIN_RETRIES: f64 = 10.0;
/// Retries allowed as a share of the window's requests.
const RATIO: f64 = 0.2;

#[derive(Debug)]
pub struct RetryBudget {
    state: Mutex<Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    requests: [u64; 2],
    retries: [u64; 2],
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            state: Mutex::new(Window {
                start: Instant::now(),
                requests: [0; 2],
                retries: [0; 2],
            }),
        }
    }
}

impl Window {
    /// Moves the window to now: index 1 is the current bucket, 0 the one before.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < BUCKET {
            return;
        }
        if elapsed < BUCKET * 2 {
            self.requests = [self.requests[1], 0];
            self.retries = [self.retries[1], 0];
            self.start += BUCKET;
        } else {
            self.requests = [0; 2];
            self.retries = [0; 2];
            self.start = now;
        }
    }
}

impl RetryBudget {
    fn with<T>(&self, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut w = match self.state.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(Instant::now());
        f(&mut w)
    }

    /// Counts a first try.
    pub fn deposit(&self) {
        self.with(|w| w.requests[1] += 1);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn withdraw(&self) -> bool {
        self.with(|w| {
            let requests = (w.requests[0] + w.requests[1]) as f64;
            let retries = w.retries[0] + w.retries[1];
            if (retries as f64) < MIN_RETRIES + RATIO * requests {
                w.retries[1] += 1;
                true
            } else {
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_bounded_share_of_requests_and_recover() {
        let budget = RetryBudget::default();
        let granted = (0..100).filter(|_| budget.withdraw()).count();
        assert_eq!(
            granted, MIN_RETRIES as usize,
            "a quiet backend gets the floor"
        );
        for _ in 0..100 {
            budget.deposit();
        }
        let granted = (0..100).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 20, "plus a fifth of its requests");
        tokio::time::advance(BUCKET).await;
        assert!(!budget.withdraw(), "the previous bucket still counts");
        tokio::time::advance(BUCKET).await;
        assert!(budget.withdraw(), "a window later the budget is back");
    }
}
