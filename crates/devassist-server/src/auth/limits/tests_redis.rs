//! The Redis store against a real redis-server (`redis_server.rs`), as two gateway replicas
//! see it: two `Limiters` on one Redis share one count. Time is a manual clock the tests
//! move (the scripts count with the clock they are given), so the same numbers as the
//! in-memory tests (`tests.rs`) come out: Retry-After included.

use super::redis::{Clock, LEASE_TTL, RedisStore};
use super::redis_server::RedisServer;
use super::*;
use crate::config::{OnStoreError, RedisLimitSettings};
use devassist_core::TokenBudget;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One replica's view: its limiters and what it was built with.
struct Replica {
    limiters: Limiters,
    metrics: LimitStoreMetrics,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Replica {
    fn store(&self) -> &RedisStore {
        match self.limiters.store() {
            LimitStore::Redis(r) => r,
            LimitStore::Memory(_) => unreachable!("a Redis replica"),
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.tasks.close();
        drop(self.limiters);
        self.tasks.wait().await;
    }
}

/// Replicas of one test: one Redis, one key prefix, one clock.
struct Cluster {
    url: String,
    prefix: String,
    clock: Arc<AtomicU64>,
}

impl Cluster {
    fn new(server: &RedisServer) -> Self {
        Self {
            url: server.url(),
            prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
            clock: Arc::new(AtomicU64::new(1_700_000_000_000)),
        }
    }

    fn replica(&self, on_error: OnStoreError) -> Replica {
        let settings = RedisLimitSettings {
            url: self.url.clone(),
            key_prefix: self.prefix.clone(),
            on_error,
            // Generous: the machine running the tests may be busy.
            timeout: Duration::from_millis(500),
        };
        let (metrics, tasks, cancel) = (
            LimitStoreMetrics::default(),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        let clock = Clock::Manual(self.clock.clone());
        let store =
            redis::RedisStore::with_clock(&settings, metrics.clone(), clock, &tasks, &cancel)
                .unwrap();
        Replica {
            limiters: Limiters {
                store: LimitStore::Redis(Arc::new(store)),
            },
            metrics,
            tasks,
            cancel,
        }
    }

    fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap();
        self.clock.fetch_add(ms, Ordering::AcqRel);
    }
}

fn caller(limits: CallerLimits) -> Caller {
    let mut c = Caller::anonymous();
    c.id = "dak_00000000000r".into();
    c.name = "shared".into();
    c.limits = limits;
    c
}

fn retry_after(e: &GatewayError) -> u64 {
    e.retry_after.map(|d| d.as_secs()).unwrap_or_default()
}

#[tokio::test]
async fn requests_per_minute_are_counted_once_across_replicas() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let (a, b) = (
        cluster.replica(OnStoreError::Closed),
        cluster.replica(OnStoreError::Closed),
    );
    let c = caller(CallerLimits {
        rpm: Some(3),
        ..CallerLimits::default()
    });
    let mut admitted = 0;
    let mut refused = Vec::new();
    for i in 0..8 {
        let replica = if i % 2 == 0 { &a } else { &b };
        match replica.limiters.admit(&c).await {
            Ok(_) => admitted += 1,
            Err(e) => refused.push(e),
        }
    }
    assert_eq!(admitted, 3, "3 per minute in total, not per replica");
    assert_eq!(refused.len(), 5);
    assert_eq!(refused[0].status(), 429);
    assert!(
        refused[0].message.contains("3 requests per minute"),
        "{}",
        refused[0].message
    );
    assert_eq!(
        retry_after(&refused[0]),
        20,
        "one request comes back every 20 s"
    );
    cluster.advance(Duration::from_secs(20));
    assert!(b.limiters.admit(&c).await.is_ok());
    assert!(a.limiters.admit(&c).await.is_err());
    assert_eq!(a.metrics.errors("admit") + b.metrics.errors("admit"), 0);
}

#[tokio::test]
async fn requests_in_progress_are_counted_across_replicas_and_given_back_on_drop() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let (a, b) = (
        cluster.replica(OnStoreError::Closed),
        cluster.replica(OnStoreError::Closed),
    );
    let c = caller(CallerLimits {
        max_parallel: Some(2),
        ..CallerLimits::default()
    });
    let first = a.limiters.admit(&c).await.unwrap();
    let second = b.limiters.admit(&c).await.unwrap();
    assert!(first.holds_place() && second.holds_place());
    let refused = a.limiters.admit(&c).await.err().unwrap();
    assert!(
        refused.message.contains("2 requests in progress"),
        "{}",
        refused.message
    );
    assert_eq!(retry_after(&refused), 1);
    assert!(b.limiters.admit(&c).await.is_err());

    // The drop hands the place to the worker; nothing waits on Redis.
    drop(second);
    b.store().flush().await;
    let third = a.limiters.admit(&c).await.unwrap();
    assert!(a.limiters.admit(&c).await.is_err());
    drop((first, third));
    a.store().flush().await;
    let mut conn = a.store().connection();
    let key = format!("{}{{{}}}:leases", cluster.prefix, c.id);
    let left: usize = ::redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "every place given back");
}

#[tokio::test]
async fn places_of_a_dead_replica_expire_and_a_live_replica_keeps_its_own() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let a = cluster.replica(OnStoreError::Closed);
    let c = caller(CallerLimits {
        max_parallel: Some(1),
        ..CallerLimits::default()
    });
    // A replica that died holding a place: its lease stays, refreshed by nobody.
    let mut conn = a.store().connection();
    let key = format!("{}{{{}}}:leases", cluster.prefix, c.id);
    let now = cluster.clock.load(Ordering::Acquire);
    let expiry = now + u64::try_from(LEASE_TTL.as_millis()).unwrap();
    let _: usize = ::redis::cmd("ZADD")
        .arg(&key)
        .arg(expiry)
        .arg("dead-replica:0")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(a.limiters.admit(&c).await.is_err(), "the dead place counts");
    cluster.advance(LEASE_TTL + Duration::from_millis(1));
    let live = a.limiters.admit(&c).await.unwrap();

    // A live replica refreshes its places: they outlast LEASE_TTL.
    for _ in 0..3 {
        cluster.advance(LEASE_TTL / 2);
        a.store().refresh();
        a.store().flush().await;
    }
    assert!(
        a.limiters.admit(&c).await.is_err(),
        "a refreshed place still counts after 1.5 × LEASE_TTL"
    );
    drop(live);
    a.store().flush().await;
    assert!(a.limiters.admit(&c).await.is_ok());
}

#[tokio::test]
async fn tokens_per_minute_are_a_debt_shared_by_replicas() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let (a, b) = (
        cluster.replica(OnStoreError::Closed),
        cluster.replica(OnStoreError::Closed),
    );
    let c = caller(CallerLimits {
        tpm: Some(600),
        ..CallerLimits::default()
    });
    let admitted = a.limiters.admit(&c).await.unwrap();
    assert!(admitted.counts_tokens() && !admitted.holds_place());
    admitted.spend(900); // one answer may overshoot
    drop(admitted);
    a.store().flush().await;
    let refused = b.limiters.admit(&c).await.err().unwrap();
    assert!(
        refused.message.contains("600 tokens per minute"),
        "{}",
        refused.message
    );
    // 301 tokens to pay back at 10 per second: 30.1 s, rounded up.
    assert_eq!(retry_after(&refused), 31);
    cluster.advance(Duration::from_secs(30));
    assert!(b.limiters.admit(&c).await.is_err());
    cluster.advance(Duration::from_secs(1));
    assert!(b.limiters.admit(&c).await.is_ok());
}

#[tokio::test]
async fn a_token_budget_outlives_the_replica_that_counted_it() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let c = caller(CallerLimits {
        token_budget: Some(TokenBudget {
            tokens: 100,
            period: Duration::from_secs(3600),
        }),
        ..CallerLimits::default()
    });
    let first = cluster.replica(OnStoreError::Closed);
    first.limiters.admit(&c).await.unwrap().spend(60);
    cluster.advance(Duration::from_secs(600));
    first.limiters.admit(&c).await.unwrap().spend(60);
    first.store().flush().await;
    first.stop().await;

    // A new gateway (a restart, or another replica) sees the spent budget.
    let restarted = cluster.replica(OnStoreError::Closed);
    let refused = restarted.limiters.admit(&c).await.err().unwrap();
    assert!(
        refused.message.contains("token budget of 100"),
        "{}",
        refused.message
    );
    assert_eq!(retry_after(&refused), 3000);
    cluster.advance(Duration::from_secs(3000));
    assert!(restarted.limiters.admit(&c).await.is_ok(), "a new period");
}

#[tokio::test]
async fn redis_down_fails_open_with_counted_errors_and_recovers() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let a = cluster.replica(OnStoreError::Open);
    let c = caller(CallerLimits {
        rpm: Some(1),
        max_parallel: Some(1),
        ..CallerLimits::default()
    });
    let held = a.limiters.admit(&c).await.unwrap();
    assert!(a.limiters.admit(&c).await.is_err());
    drop(held);
    server.stop().await;
    for _ in 0..3 {
        let admitted = a.limiters.admit(&c).await;
        assert!(admitted.is_ok(), "open: admitted unchecked");
    }
    assert_eq!(a.metrics.errors("admit"), 3);
    assert_eq!(a.metrics.fallbacks("open"), 3);
    assert_eq!(a.metrics.fallbacks("closed"), 0);
    // Three failures in a row: Redis is left alone for a while, and requests are decided at
    // once instead of after the timeout each.
    assert!(a.limiters.admit(&c).await.is_ok());
    assert_eq!(a.metrics.errors("admit"), 3, "Redis was not asked");
    assert_eq!(a.metrics.fallbacks("open"), 4);

    // Redis comes back (empty): limits are checked again.
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let before = (a.metrics.errors("admit"), a.metrics.fallbacks("open"));
        let admitted = a.limiters.admit(&c).await;
        if (a.metrics.errors("admit"), a.metrics.fallbacks("open")) == before {
            break admitted;
        }
        assert!(Instant::now() < deadline, "no reconnection to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(first.is_ok());
    let again = a.limiters.admit(&c).await.err().unwrap();
    assert_eq!(again.status(), 429, "{}", again.message);
}

#[tokio::test]
async fn redis_down_fails_closed_with_a_503() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let cluster = Cluster::new(&server);
    let a = cluster.replica(OnStoreError::Closed);
    let c = caller(CallerLimits {
        rpm: Some(100),
        ..CallerLimits::default()
    });
    assert!(a.limiters.admit(&c).await.is_ok());
    server.stop().await;
    let refused = a.limiters.admit(&c).await.err().unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(retry_after(&refused), 1);
    assert!(
        refused
            .message
            .contains("cannot check this API key's limits"),
        "{}",
        refused.message
    );
    assert_eq!(a.metrics.errors("admit"), 1);
    assert_eq!(a.metrics.fallbacks("closed"), 1);

    // Callers without limits never wait on Redis, even while it is down.
    let free = a.limiters.admit(&Caller::anonymous()).await.unwrap();
    assert!(!free.counts_tokens() && !free.holds_place());
    assert_eq!(a.metrics.errors("admit"), 1);
}

#[tokio::test]
async fn a_tls_url_to_a_plain_server_is_a_store_failure_not_a_crash() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let mut cluster = Cluster::new(&server);
    // rustls on the workspace's ring provider: the handshake is tried, and fails.
    cluster.url = format!("rediss://127.0.0.1:{}/0", server.port);
    let a = cluster.replica(OnStoreError::Closed);
    let c = caller(CallerLimits {
        rpm: Some(10),
        ..CallerLimits::default()
    });
    let refused = a.limiters.admit(&c).await.err().unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(a.metrics.errors("admit"), 1);
}
