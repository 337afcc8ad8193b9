//! Per-caller limits: requests per minute, requests in progress, tokens per minute and a
//! token budget per period. Tokens are counted from real usage when an answer finishes, so
//! a caller may overshoot by one answer; the next request then waits until the debt is paid
//! back.
//!
//! Where they are counted is the [`LimitStore`] (`[limits] store`): in this process's
//! memory (`memory.rs`, one replica), or in Redis (`redis.rs`), shared by every replica. A
//! caller without limits costs neither anything: it is admitted before any store is asked.

mod memory;
pub mod redis;

pub use memory::KeyLimiter;

use crate::config::LimitsSettings;
use crate::telemetry::metrics::LimitStoreMetrics;
use devassist_core::{Caller, CallerLimits, ErrorKind, GatewayError, Origin};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a client over its limit of requests in progress is told to wait.
const PARALLEL_RETRY: Duration = Duration::from_secs(1);

/// Where limits are counted. Closed set, chosen at start-up.
pub enum LimitStore {
    Memory(memory::MemoryStore),
    Redis(Arc<redis::RedisStore>),
}

/// Every caller's limits, counted in the configured store.
pub struct Limiters {
    store: LimitStore,
}

impl Default for Limiters {
    fn default() -> Self {
        Self {
            store: LimitStore::Memory(memory::MemoryStore::default()),
        }
    }
}

impl Limiters {
    /// The store `settings` name. The Redis store connects lazily (a gateway starts while
    /// Redis is down, and `on_redis_error` decides meanwhile); its worker runs on `tasks`
    /// until `cancel`.
    pub fn new(
        settings: &LimitsSettings,
        metrics: LimitStoreMetrics,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, String> {
        let store = match settings {
            LimitsSettings::Memory => LimitStore::Memory(memory::MemoryStore::default()),
            LimitsSettings::Redis(r) => {
                let store = redis::RedisStore::connect(r, metrics, tasks, cancel)?;
                tracing::info!(
                    url = %r.url_for_logs(),
                    key_prefix = %r.key_prefix,
                    on_redis_error = r.on_error.as_str(),
                    "Per-key limits counted in Redis"
                );
                LimitStore::Redis(Arc::new(store))
            }
        };
        Ok(Self { store })
    }

    pub fn store(&self) -> &LimitStore {
        &self.store
    }

    /// The caller's in-memory limiter (made on first use); `None` for callers without
    /// limits and with the Redis store.
    pub fn get(&self, caller: &Caller) -> Option<Arc<KeyLimiter>> {
        match &self.store {
            _ if caller.limits == CallerLimits::default() => None,
            LimitStore::Memory(m) => m.get(caller),
            LimitStore::Redis(_) => None,
        }
    }

    /// Admits one request of `caller`, or a 429 naming the limit and when to retry (or,
    /// with Redis unreachable and `on_redis_error = "closed"`, a 503).
    pub async fn admit(&self, caller: &Caller) -> Result<Admission, GatewayError> {
        if caller.limits == CallerLimits::default() {
            return Ok(Admission::default());
        }
        let held = match &self.store {
            LimitStore::Memory(m) => m.admit(caller)?.map_or(Held::Free, Held::Memory),
            LimitStore::Redis(r) => Held::Redis(r.admit(caller).await?),
        };
        Ok(Admission { held })
    }
}

/// A request admitted under its caller's limits. Holds its place among the caller's
/// requests in progress until dropped, and counts the answer's tokens.
#[derive(Default)]
pub struct Admission {
    held: Held,
}

#[derive(Default)]
enum Held {
    /// No limits to count.
    #[default]
    Free,
    Memory(memory::Held),
    Redis(redis::Held),
}

impl Admission {
    /// Whether anything needs the answer's usage (a stream without limits is not wrapped).
    pub fn counts_tokens(&self) -> bool {
        match &self.held {
            Held::Free => false,
            Held::Memory(h) => h.counts_tokens(),
            Held::Redis(h) => h.counts_tokens(),
        }
    }

    pub fn holds_place(&self) -> bool {
        match &self.held {
            Held::Free => false,
            Held::Memory(h) => h.holds_place(),
            Held::Redis(h) => h.holds_place(),
        }
    }

    pub fn spend(&self, tokens: u64) {
        match &self.held {
            Held::Free => {}
            Held::Memory(h) => h.spend(tokens),
            Held::Redis(h) => h.spend(tokens),
        }
    }
}

fn who(caller: &Caller) -> String {
    caller.describe()
}

/// 429 with `Retry-After` in whole seconds, rounded up: a client that waits as told is
/// admitted.
fn limited(message: String, after: Duration) -> GatewayError {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    GatewayError::new(ErrorKind::RateLimited, Origin::Client, message)
        .with_retry_after(Duration::from_secs(secs.max(1)))
}

#[cfg(test)]
mod redis_server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_redis;
