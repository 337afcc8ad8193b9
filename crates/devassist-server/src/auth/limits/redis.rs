//! The Redis limit store: one count per caller shared by every gateway replica that uses the
//! same Redis and key prefix, kept across restarts.
//!
//! A limit check is one round trip: `admit.lua` checks the budget, tokens per minute,
//! requests in progress and requests per minute, and takes the request's place and its
//! request-per-minute cell only when all of them admit it. The rest is off the request's
//! path, in a tracked worker (`worker.rs`): an answer's tokens (`spend.lua`), places given
//! back when answers end, and the refresh of the places this replica holds. A place is a
//! lease in a sorted set scored by its expiry, so the places of a replica that died expire
//! within [`LEASE_TTL`].
//!
//! Every command waits at most `redis_timeout`; then `on_redis_error` decides: admitted
//! unchecked (`open`) or 503 (`closed`), counted in `devassist_limit_store_*` and logged at
//! most every 10 s. After three failed checks in a row Redis is left alone for a second, so
//! an outage does not cost every request the timeout.
//!
//! Time is the gateway's wall clock, in milliseconds, passed to the scripts, so replicas
//! agree as far as their clocks do (NTP) and tests can drive a manual clock.

mod worker;

use super::{PARALLEL_RETRY, limited, who};
use crate::config::{OnStoreError, RedisLimitSettings};
use crate::telemetry::metrics::LimitStoreMetrics;
use ::redis::Script;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use devassist_core::{Caller, GatewayError};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use worker::Work;

/// How long a place among a caller's requests in progress outlives the last refresh of the
/// replica that holds it: the most a dead replica's places linger.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often a replica refreshes the places it holds.
const LEASE_REFRESH: Duration = Duration::from_secs(10);
/// At most one warning about a failing store in this long.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// After this many limit checks failed in a row, Redis is not asked for [`PAUSE`]:
/// `on_redis_error` decides at once instead of after `redis_timeout` each.
const TRIP_AFTER: u32 = 3;
const PAUSE: Duration = Duration::from_secs(1);

static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/admit.lua")));
static SPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("redis/spend.lua")));

/// The time the scripts count with, in milliseconds since the Unix epoch.
#[derive(Clone)]
pub enum Clock {
    System,
    /// Set by tests.
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, millis),
            #[cfg(test)]
            Clock::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the store and its worker share.
struct Shared {
    conn: ConnectionManager,
    timeout: Duration,
    on_error: OnStoreError,
    metrics: LimitStoreMetrics,
    clock: Clock,
    /// When the last warning was logged (`clock` ms), and the failures since.
    warned_at: AtomicU64,
    unwarned: AtomicU64,
    breaker: Breaker,
}

/// Stops asking a Redis that keeps failing, for a while: during an outage requests are
/// decided at once, and one check after each [`PAUSE`] finds out whether it is back. On
/// tokio's clock, since the scripts' clock is the wall's.
struct Breaker {
    since: tokio::time::Instant,
    failures: AtomicU32,
    /// Milliseconds after `since` until which Redis is not asked; 0: it is.
    paused_until: AtomicU64,
}

impl Breaker {
    fn new() -> Self {
        Self {
            since: tokio::time::Instant::now(),
            failures: AtomicU32::new(0),
            paused_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        millis(self.since.elapsed())
    }

    fn paused(&self) -> bool {
        let until = self.paused_until.load(Ordering::Acquire);
        until != 0 && self.now() < until
    }

    fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    fn failed(&self) {
        if self.failures.fetch_add(1, Ordering::AcqRel) + 1 >= TRIP_AFTER {
            self.failures.store(0, Ordering::Release);
            let until = self.now().saturating_add(millis(PAUSE)).max(1);
            self.paused_until.store(until, Ordering::Release);
        }
    }
}

impl Shared {
    /// Counts a failed command and logs it, at most every [`WARN_EVERY`].
    fn failed(&self, op: &'static str, error: &str) {
        self.metrics.error(op);
        let now = self.clock.now_ms();
        let last = self.warned_at.load(Ordering::Acquire);
        let due = last == 0 || now.saturating_sub(last) >= millis(WARN_EVERY);
        if !due
            || self
                .warned_at
                .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            self.unwarned.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let also = self.unwarned.swap(0, Ordering::Relaxed);
        let consequence = match (op, self.on_error) {
            ("admit", OnStoreError::Open) => "requests are admitted WITHOUT their limits",
            ("admit", OnStoreError::Closed) => "requests with limits are refused with 503",
            ("spend", _) => "answers' tokens are not counted",
            _ => "places among requests in progress are held until they expire",
        };
        tracing::warn!(
            op,
            error,
            on_redis_error = self.on_error.as_str(),
            failures_since_last_warning = also,
            "The limit store (Redis) failed: {consequence}"
        );
    }
}

/// Messages the worker has not taken yet, at most. Past it (Redis far behind), a message is
/// dropped and counted as a `queue` error: a lost release or refresh comes back when the
/// lease expires, a lost spend is tokens not counted; the request never waits.
const WORK_QUEUE: usize = 16_384;

/// The worker's queue, as requests and their drops post to it.
#[derive(Clone)]
struct WorkQueue {
    tx: mpsc::Sender<Work>,
    metrics: LimitStoreMetrics,
}

impl WorkQueue {
    fn post(&self, work: Work) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(work) {
            self.metrics.error("queue");
        }
    }
}

/// The Redis store of one gateway.
pub struct RedisStore {
    shared: Arc<Shared>,
    prefix: String,
    /// Names this replica's leases: a random id and a counter.
    replica: String,
    next_lease: AtomicU64,
    work: WorkQueue,
}

impl RedisStore {
    /// Connects lazily (the first limit check connects) and starts the worker on `tasks`.
    pub fn connect(
        settings: &RedisLimitSettings,
        metrics: LimitStoreMetrics,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, String> {
        Self::with_clock(settings, metrics, Clock::System, tasks, cancel)
    }

    pub fn with_clock(
        settings: &RedisLimitSettings,
        metrics: LimitStoreMetrics,
        clock: Clock,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, String> {
        let client = ::redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("limits.redis_url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.timeout))
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_secs(1))))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("limits.redis_url: {e}"))?;
        let shared = Arc::new(Shared {
            conn,
            timeout: settings.timeout,
            on_error: settings.on_error,
            metrics,
            clock,
            warned_at: AtomicU64::new(0),
            unwarned: AtomicU64::new(0),
            breaker: Breaker::new(),
        });
        let (tx, queue) = mpsc::channel(WORK_QUEUE);
        let work = WorkQueue {
            tx,
            metrics: shared.metrics.clone(),
        };
        tasks.spawn(worker::run(shared.clone(), queue, cancel.clone()));
        Ok(Self {
            shared,
            prefix: settings.key_prefix.clone(),
            replica: uuid::Uuid::new_v4().simple().to_string(),
            next_lease: AtomicU64::new(0),
            work,
        })
    }

    /// Admits one request of `caller` (who has limits), or a 429 naming the limit and when
    /// to retry; when Redis fails, what `on_redis_error` says.
    pub async fn admit(&self, caller: &Caller) -> Result<Held, GatewayError> {
        let limits = &caller.limits;
        let budget = limits.token_budget;
        let mut held = Held {
            work: self.work.clone(),
            clock: self.shared.clock.clone(),
            keys: Arc::new(Keys::new(&self.prefix, caller)),
            // Made before asking: if this future is dropped while Redis works (the client
            // went away), the drop gives back the place the script may have taken.
            lease: limits.max_parallel.map(|_| {
                let n = self.next_lease.fetch_add(1, Ordering::Relaxed);
                format!("{}:{n}", self.replica)
            }),
            tpm: limits.tpm.unwrap_or(0),
            period_ms: budget.map_or(0, |b| millis(b.period)),
        };
        if self.shared.breaker.paused() {
            held.lease = None;
            return self.decide(held);
        }
        let mut ask = ADMIT.prepare_invoke();
        let keys = &held.keys;
        ask.key(&keys.rpm)
            .key(&keys.leases)
            .key(&keys.tpm)
            .key(&keys.budget)
            .arg(self.shared.clock.now_ms())
            .arg(limits.rpm.unwrap_or(0))
            .arg(limits.max_parallel.unwrap_or(0))
            .arg(held.tpm)
            .arg(budget.map_or(0, |b| b.tokens))
            .arg(held.period_ms)
            .arg(held.lease.as_deref().unwrap_or(""))
            .arg(millis(LEASE_TTL));
        let mut conn = self.shared.conn.clone();
        let answer =
            tokio::time::timeout(self.shared.timeout, ask.invoke_async::<Vec<u64>>(&mut conn))
                .await;
        let answer = match answer {
            Ok(Ok(answer)) => {
                self.shared.breaker.succeeded();
                answer
            }
            Ok(Err(e)) => return self.unchecked(held, &e.to_string()),
            Err(_) => {
                let why = format!("no answer within {:?}", self.shared.timeout);
                return self.unchecked(held, &why);
            }
        };
        let (refused_by, after) = match answer.as_slice() {
            [0] => {
                if let Some(id) = &held.lease {
                    self.work.post(Work::Hold {
                        keys: held.keys.clone(),
                        id: id.clone(),
                    });
                }
                return Ok(held);
            }
            [limit, after_ms] => (*limit, Duration::from_millis(*after_ms)),
            other => {
                let why = format!("unexpected answer from the admit script: {other:?}");
                return self.unchecked(held, &why);
            }
        };
        // Refused: the script took nothing.
        held.lease = None;
        let who = who(caller);
        let message = match refused_by {
            1 => format!(
                "{who} has used its token budget of {} for this period; it renews in {}s",
                budget.map_or(0, |b| b.tokens),
                after.as_secs().max(1)
            ),
            2 => format!("{who} is over its limit of {} tokens per minute", held.tpm),
            3 => {
                return Err(limited(
                    format!(
                        "{who} already has {} requests in progress, its limit",
                        limits.max_parallel.unwrap_or_default()
                    ),
                    PARALLEL_RETRY,
                ));
            }
            _ => format!(
                "{who} is over its limit of {} requests per minute",
                limits.rpm.unwrap_or_default()
            ),
        };
        Err(limited(message, after))
    }

    /// Redis failed: `on_redis_error` decides. An open admission still counts its tokens
    /// and gives back the place the script may have taken.
    fn unchecked(&self, held: Held, error: &str) -> Result<Held, GatewayError> {
        self.shared.failed("admit", error);
        self.shared.breaker.failed();
        self.decide(held)
    }

    fn decide(&self, held: Held) -> Result<Held, GatewayError> {
        let policy = self.shared.on_error;
        self.shared.metrics.fallback(policy.as_str());
        match policy {
            OnStoreError::Open => Ok(held),
            OnStoreError::Closed => Err(GatewayError::overloaded(
                "the gateway cannot check this API key's limits now: its limit store does not \
                 answer; try again shortly",
            )
            .with_retry_after(PARALLEL_RETRY)),
        }
    }

    #[cfg(test)]
    pub(super) fn connection(&self) -> ConnectionManager {
        self.shared.conn.clone()
    }

    /// Waits until the worker has done everything sent before.
    #[cfg(test)]
    pub(super) async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        let _ = self.work.tx.send(Work::Flush(done)).await;
        let _ = wait.await;
    }

    /// Has the worker refresh the places this replica holds now.
    #[cfg(test)]
    pub(super) fn refresh(&self) {
        self.work.post(Work::Refresh);
    }
}

/// One caller's Redis keys, in one hash slot (`{id}`) for Redis Cluster. The request and
/// token rates and the budget period are in their names, so a key whose limits change
/// starts those counts afresh (as the in-memory store does); a new budget size keeps what
/// the period used.
pub struct Keys {
    pub rpm: String,
    pub leases: String,
    pub tpm: String,
    pub budget: String,
}

impl Keys {
    fn new(prefix: &str, caller: &Caller) -> Self {
        let base = format!("{prefix}{{{}}}", caller.id);
        let l = &caller.limits;
        Self {
            rpm: format!("{base}:rpm:{}", l.rpm.unwrap_or(0)),
            leases: format!("{base}:leases"),
            tpm: format!("{base}:tpm:{}", l.tpm.unwrap_or(0)),
            budget: format!(
                "{base}:budget:{}",
                l.token_budget.map_or(0, |b| millis(b.period))
            ),
        }
    }
}

/// A request admitted by Redis: its place (a lease) until dropped, and where its tokens are
/// counted. Dropping sends the lease to the worker: nothing here waits.
pub struct Held {
    work: WorkQueue,
    clock: Clock,
    keys: Arc<Keys>,
    lease: Option<String>,
    tpm: u32,
    period_ms: u64,
}

impl Held {
    pub fn counts_tokens(&self) -> bool {
        self.tpm > 0 || self.period_ms > 0
    }

    pub fn holds_place(&self) -> bool {
        self.lease.is_some()
    }

    pub fn spend(&self, tokens: u64) {
        if tokens > 0 && self.counts_tokens() {
            self.work.post(Work::Spend {
                keys: self.keys.clone(),
                at_ms: self.clock.now_ms(),
                tokens,
                tpm: self.tpm,
                period_ms: self.period_ms,
            });
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(id) = self.lease.take() {
            self.work.post(Work::Release {
                keys: self.keys.clone(),
                id,
            });
        }
    }
}
