//! The in-memory limit store (one replica): requests per minute (`governor`'s GCRA),
//! requests in progress (a counter whose permit lives as long as the answer), tokens per
//! minute and a token budget per period. All timing runs on tokio's clock (paused in tests).

use super::{PARALLEL_RETRY, limited, who};
use devassist_core::{Caller, CallerLimits, GatewayError};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// governor on tokio's clock, so a paused test clock drives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

type Rpm = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Tokens a caller may still spend: refilled continuously at `per_minute`, held at most
/// `per_minute`, and allowed to go below zero by the answer that crossed it.
#[derive(Debug)]
struct TokenBucket {
    per_minute: f64,
    level: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            level: f64::from(per_minute),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + secs * self.per_minute / 60.0).min(self.per_minute);
        self.at = now;
    }

    /// `None` when there are tokens left, else how long until there are.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        (self.level < 1.0)
            .then(|| Duration::from_secs_f64((1.0 - self.level) * 60.0 / self.per_minute))
    }

    fn spend(&mut self, tokens: u64, now: Instant) {
        self.refill(now);
        self.level -= tokens as f64;
    }
}

/// Tokens spent in the current period; periods follow each other from the first use.
#[derive(Debug)]
struct Budget {
    tokens: u64,
    period: Duration,
    start: Instant,
    used: u64,
}

impl Budget {
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= self.period {
            let periods = elapsed.as_nanos() / self.period.as_nanos().max(1);
            let skip = self
                .period
                .saturating_mul(u32::try_from(periods).unwrap_or(u32::MAX));
            self.start += skip;
            self.used = 0;
        }
    }

    fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.roll(now);
        (self.used >= self.tokens)
            .then(|| (self.start + self.period).saturating_duration_since(now))
    }

    fn spend(&mut self, tokens: u64, now: Instant) {
        self.roll(now);
        self.used = self.used.saturating_add(tokens);
    }
}

/// One caller's limits and their state.
pub struct KeyLimiter {
    limits: CallerLimits,
    rpm: Option<Rpm>,
    in_progress: AtomicU32,
    tpm: Option<Mutex<TokenBucket>>,
    budget: Option<Mutex<Budget>>,
}

impl KeyLimiter {
    fn new(limits: &CallerLimits) -> Self {
        let now = Instant::now();
        Self {
            limits: limits.clone(),
            rpm: limits
                .rpm
                .and_then(NonZeroU32::new)
                .map(|n| RateLimiter::direct_with_clock(Quota::per_minute(n), TokioClock)),
            in_progress: AtomicU32::new(0),
            tpm: limits.tpm.map(|n| Mutex::new(TokenBucket::new(n))),
            budget: limits.token_budget.map(|b| {
                Mutex::new(Budget {
                    tokens: b.tokens,
                    period: b.period,
                    start: now,
                    used: 0,
                })
            }),
        }
    }

    /// Counts tokens an answer used.
    pub fn spend(&self, tokens: u64) {
        let now = Instant::now();
        if let Some(b) = &self.tpm
            && let Ok(mut b) = b.lock()
        {
            b.spend(tokens, now);
        }
        if let Some(b) = &self.budget
            && let Ok(mut b) = b.lock()
        {
            b.spend(tokens, now);
        }
    }

    /// Requests in progress now.
    pub fn in_progress(&self) -> u32 {
        self.in_progress.load(Ordering::Acquire)
    }
}

/// A request admitted under its caller's limits: its place among the caller's requests in
/// progress until dropped, and where the answer's tokens are counted.
pub struct Held {
    limiter: Arc<KeyLimiter>,
    holds_place: bool,
}

impl Held {
    pub fn counts_tokens(&self) -> bool {
        self.limiter.tpm.is_some() || self.limiter.budget.is_some()
    }

    pub fn holds_place(&self) -> bool {
        self.holds_place
    }

    pub fn spend(&self, tokens: u64) {
        self.limiter.spend(tokens);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.holds_place {
            self.limiter.in_progress.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Every caller's limiter, by caller id.
#[derive(Default)]
pub struct MemoryStore {
    by_caller: Mutex<HashMap<String, Arc<KeyLimiter>>>,
}

impl MemoryStore {
    /// The caller's limiter, made (or remade when the key's limits changed) on first use.
    pub fn get(&self, caller: &Caller) -> Option<Arc<KeyLimiter>> {
        let mut map = self.by_caller.lock().ok()?;
        let current = map.get(&caller.id).filter(|l| l.limits == caller.limits);
        if let Some(l) = current {
            return Some(l.clone());
        }
        let made = Arc::new(KeyLimiter::new(&caller.limits));
        map.insert(caller.id.clone(), made.clone());
        Some(made)
    }

    /// Admits one request of `caller` (who has limits), or a 429 naming the limit and when
    /// to retry.
    pub fn admit(&self, caller: &Caller) -> Result<Option<Held>, GatewayError> {
        let Some(limiter) = self.get(caller) else {
            return Ok(None);
        };
        let now = Instant::now();
        if let Some(b) = &limiter.budget
            && let Ok(mut b) = b.lock()
            && let Some(after) = b.wait(now)
        {
            return Err(limited(
                format!(
                    "{} has used its token budget of {} for this period; it renews in {}s",
                    who(caller),
                    b.tokens,
                    after.as_secs().max(1)
                ),
                after,
            ));
        }
        if let Some(b) = &limiter.tpm
            && let Ok(mut b) = b.lock()
            && let Some(after) = b.wait(now)
        {
            return Err(limited(
                format!(
                    "{} is over its limit of {} tokens per minute",
                    who(caller),
                    b.per_minute
                ),
                after,
            ));
        }
        let mut held = Held {
            limiter: limiter.clone(),
            holds_place: false,
        };
        if let Some(max) = caller.limits.max_parallel {
            let before = limiter.in_progress.fetch_add(1, Ordering::AcqRel);
            held.holds_place = true;
            if before >= max {
                return Err(limited(
                    format!(
                        "{} already has {max} requests in progress, its limit",
                        who(caller)
                    ),
                    PARALLEL_RETRY,
                ));
            }
        }
        if let Some(rpm) = &limiter.rpm
            && let Err(not_until) = rpm.check()
        {
            let after = not_until.wait_time_from(TokioClock.now());
            return Err(limited(
                format!(
                    "{} is over its limit of {} requests per minute",
                    who(caller),
                    caller.limits.rpm.unwrap_or_default()
                ),
                after,
            ));
        }
        Ok(Some(held))
    }
}
