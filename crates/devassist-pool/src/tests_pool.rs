//! Pool tests on tokio's paused clock: reject mode, limits and queueing during a wake,
//! replica order, crash explanation and shutdown. The in-memory provider is `tests.rs`'s.

use super::lifecycle::{LifecycleSettings, OnCold, Phase};
use super::tests::{Fake, lifecycle_with, settings, settle};
use super::{Driver, Limits, Pool, Slot};
use devassist_backends::{MockBackend, MockConfig};
use devassist_core::{Backend, ErrorKind, GatewayError};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn slow_fake(delay_s: u64) -> Arc<Fake> {
    let fake = Arc::new(Fake::default());
    *fake.start_delay.lock().unwrap() = Duration::from_secs(delay_s);
    fake
}

fn reject(idle: Option<Duration>) -> LifecycleSettings {
    LifecycleSettings {
        on_cold: OnCold::Reject,
        ..settings(idle, Duration::from_secs(600))
    }
}

fn pool_of(slots: Vec<Slot>, tasks: TaskTracker, cancel: CancellationToken) -> Pool {
    Pool::new(slots, tasks, cancel)
}

#[tokio::test(start_paused = true)]
async fn reject_mode_answers_503_with_retry_after_and_wakes_once() {
    let fake = slow_fake(8);
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(&fake, reject(None), &tasks, &cancel);
    let err = lc.acquire().await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::BackendUnavailable);
    assert_eq!(err.status(), 503);
    assert!(err.message.contains("is starting"), "{}", err.message);
    // No wake history yet: the guess is 5 s.
    assert_eq!(err.retry_after, Some(Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = lc.acquire().await.err().unwrap();
    assert_eq!(again.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(
        fake.starts.load(SeqCst),
        1,
        "polling does not start it again"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    settle().await;
    assert!(lc.acquire().await.is_ok());
    lc.release(Some(devassist_core::KeepAlive::For(Duration::ZERO)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Cold);
    // With one 8 s wake on record, that is the estimate.
    let err = lc.acquire().await.err().unwrap();
    assert_eq!(err.retry_after, Some(Duration::from_secs(8)));
}

#[tokio::test(start_paused = true)]
async fn reject_mode_request_during_stop_restarts_it_right_after() {
    let fake = slow_fake(0);
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(
        &fake,
        reject(Some(Duration::from_secs(10))),
        &tasks,
        &cancel,
    );
    assert!(lc.acquire().await.is_err(), "cold: 503 and a wake");
    settle().await;
    lc.acquire().await.unwrap();
    lc.release(None);
    tokio::time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Draining);
    assert!(lc.acquire().await.is_err(), "stopping: 503");
    // The stop takes 200 ms; the restart follows without another request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Ready);
    assert_eq!(fake.starts.load(SeqCst), 2);
    assert_eq!(fake.stops.load(SeqCst), 1);
}

fn mock_slot(name: &str, limits: Limits) -> Slot {
    let mock = MockBackend::new(MockConfig::default());
    Slot::new(
        name,
        crate::Protocol::Mock,
        Driver::AlwaysOn(Arc::new(mock) as Arc<dyn Backend>),
    )
    .with_limits(limits)
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_queues_then_refuses_with_503_overloaded() {
    let limits = Limits {
        max_concurrent: Some(2),
        max_queue: Some(1),
    };
    let pool = Arc::new(Pool::new(
        vec![mock_slot("m", limits)],
        TaskTracker::new(),
        CancellationToken::new(),
    ));
    let a = pool.acquire(0, None).await.unwrap();
    let _b = pool.acquire(0, None).await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.acquire(0, None).await.map(|_| ()) }
    });
    settle().await;
    assert_eq!(pool.slots()[0].limiter.queued(), 1);
    let Err(e) = pool.acquire(0, None).await else {
        panic!("a fourth request got in past max_concurrent 2 + max_queue 1")
    };
    assert_eq!((e.kind, e.status()), (ErrorKind::Overloaded, 503));
    drop(a);
    waiter.await.unwrap().unwrap();
    assert_eq!(pool.slots()[0].limiter.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn requests_waiting_for_a_wake_count_against_the_queue() {
    let fake = slow_fake(5);
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(
        &fake,
        settings(None, Duration::from_secs(60)),
        &tasks,
        &cancel,
    );
    let slot =
        Slot::new("fake", crate::Protocol::OpenAi, Driver::Managed(lc)).with_limits(Limits {
            max_concurrent: None,
            max_queue: Some(3),
        });
    let pool = Arc::new(pool_of(vec![slot], tasks, cancel));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire(0, None).await.map(|_| ()) })
        })
        .collect();
    settle().await;
    assert_eq!(pool.slots()[0].limiter.queued(), 3);
    let Err(e) = pool.acquire(0, None).await else {
        panic!("a fourth request queued past max_queue 3")
    };
    assert_eq!(e.kind, ErrorKind::Overloaded);
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    assert_eq!(fake.starts.load(SeqCst), 1);
    assert_eq!(pool.slots()[0].limiter.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn replicas_prefer_warm_then_cold_and_avoid_failed_ones() {
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let cold = Arc::new(Fake::default());
    let warm = Arc::new(Fake::default());
    let broken = Arc::new(Fake::default());
    broken.fail_next.store(10, SeqCst);
    let slot = |f: &Arc<Fake>, name: &str| {
        let lc = lifecycle_with(f, settings(None, Duration::from_secs(60)), &tasks, &cancel);
        Slot::new(name, crate::Protocol::OpenAi, Driver::Managed(lc))
    };
    let pool = pool_of(
        vec![
            slot(&cold, "cold"),
            slot(&warm, "warm"),
            slot(&broken, "broken"),
        ],
        tasks.clone(),
        cancel.clone(),
    );
    drop(pool.acquire(1, None).await.unwrap());
    assert!(pool.acquire(2, None).await.is_err());
    assert!(
        pool.acquire(2, None).await.is_err(),
        "second failure backs off"
    );
    assert_eq!(pool.order(&[0, 1, 2], None), vec![1, 0, 2]);
    // The warm replica busy with many requests still beats waking the cold one.
    let leases: Vec<_> = futures::future::join_all((0..20).map(|_| pool.acquire(1, None)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(pool.order(&[0, 1, 2], Some("fn main")), vec![1, 0, 2]);
    drop(leases);
    assert_eq!(cold.starts.load(SeqCst), 0, "nothing woke the cold replica");
}

#[tokio::test(start_paused = true)]
async fn an_error_caused_by_a_crash_says_so() {
    let fake = Arc::new(Fake::default());
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(
        &fake,
        settings(None, Duration::from_secs(60)),
        &tasks,
        &cancel,
    );
    let pool = pool_of(
        vec![Slot::new(
            "fake",
            crate::Protocol::OpenAi,
            Driver::Managed(lc),
        )],
        tasks,
        cancel,
    );
    let lease = pool.acquire(0, None).await.unwrap();
    let plain = lease
        .explain(GatewayError::backend_error("upstream said no").with_upstream_status(400))
        .await;
    assert_eq!(
        plain.message, "upstream said no",
        "an upstream answer is no crash"
    );
    let reset = GatewayError::backend_error("connection reset");
    let t0 = tokio::time::Instant::now();
    let same = lease.explain(reset).await;
    assert_eq!(same.message, "connection reset", "no crash, no rewrite");
    assert!(
        t0.elapsed() <= Duration::from_millis(500),
        "the wait is bounded"
    );
    let cut = GatewayError::backend_error("the backend closed the stream before it finished");
    let explaining = tokio::spawn(lease.explain(cut));
    settle().await;
    fake.crash.notify_one();
    let e = explaining.await.unwrap();
    assert!(
        e.message.contains("crashed while answering"),
        "{}",
        e.message
    );
    assert_eq!(e.status(), 502);
    assert!(e.detail.unwrap_or_default().contains("closed the stream"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_backends_and_refuses_new_wakes() {
    let fake = Arc::new(Fake::default());
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(
        &fake,
        settings(None, Duration::from_secs(60)),
        &tasks,
        &cancel,
    );
    let pool = pool_of(
        vec![Slot::new(
            "fake",
            crate::Protocol::OpenAi,
            Driver::Managed(lc.clone()),
        )],
        tasks,
        cancel,
    );
    drop(pool.acquire(0, None).await.unwrap());
    pool.shutdown(Duration::from_secs(5)).await;
    assert_eq!(fake.stops.load(SeqCst), 1);
    assert_eq!(lc.snapshot().phase, Phase::Cold);
    let e = pool.acquire(0, None).await.err().unwrap();
    assert!(e.message.contains("shutting down"));
    assert_eq!(fake.starts.load(SeqCst), 1, "no start after shutdown");
}

#[tokio::test(start_paused = true)]
async fn wake_durations_are_recorded() {
    let fake = slow_fake(2);
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let lc = lifecycle_with(
        &fake,
        settings(Some(Duration::from_secs(1)), Duration::from_secs(60)),
        &tasks,
        &cancel,
    );
    for delay in [2, 4] {
        *fake.start_delay.lock().unwrap() = Duration::from_secs(delay);
        lc.acquire().await.unwrap();
        lc.release(None);
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
    }
    let w = lc.snapshot().wakes.summary();
    assert_eq!(w.count, 2);
    assert_eq!(
        (w.min_ms, w.avg_ms, w.max_ms),
        (Some(2000), Some(3000), Some(4000))
    );
}
