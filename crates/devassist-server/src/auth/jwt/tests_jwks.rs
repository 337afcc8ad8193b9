//! The key cache's timing on tokio's paused clock, with a source that counts its fetches:
//! the start-up load, refetches for unknown `kid`s at most once per interval, one fetch for
//! many waiting requests, the TTL refresh, keys kept through a failed fetch, and the task's
//! end on cancellation.

use super::*;
use crate::auth::test_idp::Signer;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const TTL: Duration = Duration::from_secs(3600);
const INTERVAL: Duration = Duration::from_secs(30);

/// A provider in memory: its keys (or a failure), how long a fetch takes, the fetches.
#[derive(Clone)]
struct Fake {
    keys: Arc<Mutex<Result<Vec<Signer>, String>>>,
    delay: Arc<Mutex<Duration>>,
    fetches: Arc<AtomicUsize>,
}

impl Fake {
    fn new(keys: &[&Signer]) -> Self {
        let fake = Fake {
            keys: Arc::new(Mutex::new(Ok(Vec::new()))),
            delay: Arc::default(),
            fetches: Arc::default(),
        };
        fake.publish(keys);
        fake
    }

    fn publish(&self, keys: &[&Signer]) {
        *self.keys.lock().unwrap() = Ok(keys.iter().map(|k| (*k).clone()).collect());
    }

    fn fail(&self) {
        *self.keys.lock().unwrap() = Err("connection refused".into());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Source for Fake {
    fn fetch(&self) -> BoxFuture<'static, Result<JwkSet, String>> {
        let me = self.clone();
        Box::pin(async move {
            me.fetches.fetch_add(1, Ordering::SeqCst);
            let delay = *me.delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let keys = me.keys.lock().unwrap().clone()?;
            let jwks =
                serde_json::json!({"keys": keys.iter().map(Signer::jwk).collect::<Vec<_>>()});
            serde_json::from_value(jwks).map_err(|e| e.to_string())
        })
    }

    fn describe(&self) -> String {
        "fake".into()
    }
}

struct Running {
    jwks: Arc<Jwks>,
    fake: Fake,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

async fn start(keys: &[&Signer]) -> Running {
    let fake = Fake::new(keys);
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let jwks = Jwks::start(Box::new(fake.clone()), TTL, INTERVAL, &tasks, &cancel);
    // Let the start-up load run.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Running {
        jwks,
        fake,
        tasks,
        cancel,
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let a = Signer::rsa("rsa_a.pem", "a");
    let b = Signer::rsa("rsa_b.pem", "b");
    let r = start(&[&a]).await;
    assert_eq!(r.fake.fetches(), 1, "loaded at start");
    assert!(r.jwks.key("a").await.is_some());
    assert_eq!(r.fake.fetches(), 1, "a known kid needs no fetch");

    assert!(r.jwks.key("z").await.is_none());
    assert_eq!(r.fake.fetches(), 2, "an unknown kid refetches");
    for _ in 0..10 {
        assert!(r.jwks.key("z").await.is_none());
    }
    assert_eq!(r.fake.fetches(), 2, "not again within the interval");

    // A rotation within the interval is seen once the interval has passed.
    r.fake.publish(&[&a, &b]);
    assert!(r.jwks.key("b").await.is_none());
    tokio::time::advance(INTERVAL).await;
    assert!(
        r.jwks.key("b").await.is_some(),
        "the new key, after a refetch"
    );
    assert_eq!(r.fake.fetches(), 3);
    assert!(r.jwks.key("a").await.is_some());
    r.cancel.cancel();
    r.tasks.close();
    r.tasks.wait().await;
}

#[tokio::test(start_paused = true)]
async fn one_fetch_serves_every_waiting_request() {
    let a = Signer::rsa("rsa_a.pem", "a");
    let b = Signer::rsa("rsa_b.pem", "b");
    let r = start(&[&a]).await;
    *r.fake.delay.lock().unwrap() = Duration::from_secs(2);
    r.fake.publish(&[&a, &b]);
    let lookups: Vec<_> = (0..20)
        .map(|_| {
            let jwks = r.jwks.clone();
            tokio::spawn(async move { jwks.key("b").await.is_some() })
        })
        .collect();
    for l in lookups {
        assert!(l.await.unwrap(), "every request got the new key");
    }
    assert_eq!(r.fake.fetches(), 2, "one fetch for twenty requests");
    // A request for a known key does not wait for a fetch in flight.
    tokio::time::advance(INTERVAL).await;
    r.fake.publish(&[&a]);
    let jwks = r.jwks.clone();
    let slow = tokio::spawn(async move { jwks.key("zz").await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    assert!(r.jwks.key("a").await.is_some());
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(slow.await.unwrap().is_none());
    assert_eq!(r.fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn keys_are_refreshed_every_ttl_and_kept_through_a_failure() {
    let a = Signer::rsa("rsa_a.pem", "a");
    let b = Signer::rsa("rsa_b.pem", "b");
    let r = start(&[&a]).await;
    r.fake.publish(&[&b]);
    tokio::time::sleep(TTL - Duration::from_secs(1)).await;
    assert_eq!(r.fake.fetches(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.fake.fetches(), 2, "refreshed after the TTL");
    assert!(r.jwks.key("b").await.is_some());
    assert_eq!(r.fake.fetches(), 2);

    // The provider goes down: the keys held stay in use, retried every interval.
    r.fake.fail();
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    assert_eq!(r.fake.fetches(), 3);
    assert!(r.jwks.key("b").await.is_some(), "kept after a failed fetch");
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(
        r.fake.fetches(),
        4,
        "a failed refresh is retried after the interval"
    );

    r.cancel.cancel();
    r.tasks.close();
    tokio::time::timeout(Duration::from_secs(1), r.tasks.wait())
        .await
        .expect("the refresh task ends on cancellation");
}

#[tokio::test(start_paused = true)]
async fn a_provider_down_at_start_is_tried_again_on_demand() {
    let a = Signer::rsa("rsa_a.pem", "a");
    let fake = Fake::new(&[&a]);
    fake.fail();
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let jwks = Jwks::start(Box::new(fake.clone()), TTL, INTERVAL, &tasks, &cancel);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(fake.fetches(), 1);
    fake.publish(&[&a]);
    assert!(
        jwks.key("a").await.is_some(),
        "a request's refetch finds it"
    );
    assert_eq!(fake.fetches(), 2);
    assert_eq!(jwks.all().await.len(), 1);
    cancel.cancel();
}
