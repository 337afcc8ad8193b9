//! Per-caller limits, in memory (one replica): requests per minute (`governor`'s GCRA),
//! requests in progress (a counter whose permit lives as long as the answer), tokens per
//! minute and a token budget per period. Tokens are counted from real usage when an answer
//! finishes, so a caller may overshoot by one answer; the next request then waits until the
//! debt is paid back. All timing runs on tokio's clock (paused in tests).

use devassist_core::{Caller, CallerLimits, ErrorKind, GatewayError, Origin};
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

/// What a client over its limit of requests in progress is told to wait.
const PARALLEL_RETRY: Duration = Duration::from_secs(1);

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

/// A request admitted under its caller's limits. Holds its place among the caller's
/// requests in progress until dropped, and counts the answer's tokens.
#[derive(Default)]
pub struct Admission {
    limiter: Option<Arc<KeyLimiter>>,
    holds_place: bool,
}

impl Admission {
    /// Whether anything needs the answer's usage (a stream without limits is not wrapped).
    pub fn counts_tokens(&self) -> bool {
        self.limiter
            .as_ref()
            .is_some_and(|l| l.tpm.is_some() || l.budget.is_some())
    }

    pub fn holds_place(&self) -> bool {
        self.holds_place
    }

    pub fn spend(&self, tokens: u64) {
        if let Some(l) = &self.limiter {
            l.spend(tokens);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.holds_place
            && let Some(l) = &self.limiter
        {
            l.in_progress.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Every caller's limiter, by caller id.
#[derive(Default)]
pub struct Limiters {
    by_caller: Mutex<HashMap<String, Arc<KeyLimiter>>>,
}

/// 429 with `Retry-After` in whole seconds, rounded up: a client that waits as told is
/// admitted.
fn limited(message: String, after: Duration) -> GatewayError {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    GatewayError::new(ErrorKind::RateLimited, Origin::Client, message)
        .with_retry_after(Duration::from_secs(secs.max(1)))
}

impl Limiters {
    /// The caller's limiter, made (or remade when the key's limits changed) on first use.
    pub fn get(&self, caller: &Caller) -> Option<Arc<KeyLimiter>> {
        if caller.limits == CallerLimits::default() {
            return None;
        }
        let mut map = self.by_caller.lock().ok()?;
        let current = map.get(&caller.id).filter(|l| l.limits == caller.limits);
        if let Some(l) = current {
            return Some(l.clone());
        }
        let made = Arc::new(KeyLimiter::new(&caller.limits));
        map.insert(caller.id.clone(), made.clone());
        Some(made)
    }

    /// Admits one request of `caller`, or a 429 naming the limit and when to retry.
    pub fn admit(&self, caller: &Caller) -> Result<Admission, GatewayError> {
        let Some(limiter) = self.get(caller) else {
            return Ok(Admission::default());
        };
        let who = caller.describe();
        let now = Instant::now();
        if let Some(b) = &limiter.budget
            && let Ok(mut b) = b.lock()
            && let Some(after) = b.wait(now)
        {
            return Err(limited(
                format!(
                    "{who} has used its token budget of {} for this period; it renews in {}s",
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
                    "{who} is over its limit of {} tokens per minute",
                    b.per_minute
                ),
                after,
            ));
        }
        let mut admission = Admission {
            limiter: Some(limiter.clone()),
            holds_place: false,
        };
        if let Some(max) = caller.limits.max_parallel {
            let before = limiter.in_progress.fetch_add(1, Ordering::AcqRel);
            admission.holds_place = true;
            if before >= max {
                return Err(limited(
                    format!("{who} already has {max} requests in progress, its limit"),
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
                    "{who} is over its limit of {} requests per minute",
                    caller.limits.rpm.unwrap_or_default()
                ),
                after,
            ));
        }
        Ok(admission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devassist_core::TokenBudget;

    fn caller(limits: CallerLimits) -> Caller {
        let mut c = Caller::anonymous();
        c.id = "dak_000000000001".into();
        c.name = "test".into();
        c.limits = limits;
        c
    }

    fn retry_after(e: &GatewayError) -> u64 {
        e.retry_after.map(|d| d.as_secs()).unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_refill_on_the_clock() {
        let l = Limiters::default();
        let c = caller(CallerLimits {
            rpm: Some(3),
            ..CallerLimits::default()
        });
        for _ in 0..3 {
            assert!(l.admit(&c).is_ok());
        }
        let refused = l.admit(&c).err().unwrap();
        assert_eq!(refused.status(), 429);
        assert!(
            refused.message.contains("3 requests per minute"),
            "{}",
            refused.message
        );
        assert_eq!(
            retry_after(&refused),
            20,
            "one request comes back every 20 s"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(l.admit(&c).is_ok());
        assert!(l.admit(&c).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_hold_places_until_their_answers_end() {
        let l = Arc::new(Limiters::default());
        let c = Arc::new(caller(CallerLimits {
            max_parallel: Some(2),
            ..CallerLimits::default()
        }));
        // Ten requests at once, each holding its place for a second.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (l, c) = (l.clone(), c.clone());
            tasks.spawn(async move {
                match l.admit(&c) {
                    Ok(a) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        drop(a);
                        true
                    }
                    Err(e) => {
                        assert_eq!(retry_after(&e), 1);
                        false
                    }
                }
            });
        }
        let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
        assert_eq!(admitted, 2);
        let limiter = l.get(&c).unwrap();
        assert_eq!(limiter.in_progress(), 0, "every place given back");
        let again = l.admit(&c).unwrap();
        assert_eq!(limiter.in_progress(), 1);
        drop(again);
        assert_eq!(limiter.in_progress(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_are_a_debt_paid_back_over_time() {
        let l = Limiters::default();
        let c = caller(CallerLimits {
            tpm: Some(600),
            ..CallerLimits::default()
        });
        let a = l.admit(&c).unwrap();
        assert!(a.counts_tokens());
        a.spend(900); // one answer may overshoot
        drop(a);
        let refused = l.admit(&c).err().unwrap();
        assert!(refused.message.contains("600 tokens per minute"));
        // 301 tokens to pay back at 10 per second: 30.1 s, rounded up.
        assert_eq!(retry_after(&refused), 31);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(l.admit(&c).is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.admit(&c).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_renews_with_the_next_period() {
        let l = Limiters::default();
        let c = caller(CallerLimits {
            token_budget: Some(TokenBudget {
                tokens: 100,
                period: Duration::from_secs(3600),
            }),
            ..CallerLimits::default()
        });
        l.admit(&c).unwrap().spend(60);
        tokio::time::advance(Duration::from_secs(600)).await;
        l.admit(&c).unwrap().spend(60);
        let refused = l.admit(&c).err().unwrap();
        assert!(
            refused.message.contains("token budget of 100"),
            "{}",
            refused.message
        );
        assert_eq!(retry_after(&refused), 3000);
        tokio::time::advance(Duration::from_secs(3000)).await;
        assert!(l.admit(&c).is_ok(), "a new period");
    }

    #[tokio::test(start_paused = true)]
    async fn callers_without_limits_cost_nothing_and_new_limits_take_effect() {
        let l = Limiters::default();
        let free = Caller::anonymous();
        let a = l.admit(&free).unwrap();
        assert!(!a.counts_tokens() && !a.holds_place());
        let mut c = caller(CallerLimits {
            rpm: Some(1),
            ..CallerLimits::default()
        });
        assert!(l.admit(&c).is_ok());
        assert!(l.admit(&c).is_err());
        c.limits.rpm = Some(5);
        assert!(l.admit(&c).is_ok(), "a changed policy starts afresh");
    }
}
