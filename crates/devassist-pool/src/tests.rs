//! Lifecycle tests on tokio's paused clock, with an in-memory provider that counts starts
//! and stops and can be told to fail, hang or crash. `tests_pool.rs` reuses it.

use super::lifecycle::{Lifecycle, LifecycleSettings, OnCold, Phase};
use super::provider::{Instance, Provider};
use devassist_backends::{MockBackend, MockConfig};
use devassist_core::{Backend, ErrorKind, GatewayError, KeepAlive};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Default)]
pub(super) struct Fake {
    pub starts: AtomicU32,
    pub stops: AtomicU32,
    pub start_delay: Mutex<Duration>,
    pub fail_next: AtomicU32,
    pub hang: Mutex<bool>,
    pub crash: Arc<Notify>,
}

struct FakeInstance {
    fake: Arc<Fake>,
}

pub(super) struct FakeProvider(pub Arc<Fake>);

#[async_trait::async_trait]
impl Provider for FakeProvider {
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError> {
        self.0.starts.fetch_add(1, SeqCst);
        let delay = *self.0.start_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if *self.0.hang.lock().unwrap() {
            std::future::pending::<()>().await;
        }
        if self.0.fail_next.load(SeqCst) > 0 {
            self.0.fail_next.fetch_sub(1, SeqCst);
            return Err(GatewayError::backend_unavailable("fake start failure"));
        }
        Ok(Box::new(FakeInstance {
            fake: self.0.clone(),
        }))
    }

    fn kind(&self) -> crate::ProviderKind {
        crate::ProviderKind::Process
    }
}

#[async_trait::async_trait]
impl Instance for FakeInstance {
    fn base_url(&self) -> &str {
        "http://fake"
    }
    async fn exited(&mut self) -> String {
        self.fake.crash.notified().await;
        "fake crash".into()
    }
    async fn stop(self: Box<Self>, _grace: Duration) -> Result<(), String> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.fake.stops.fetch_add(1, SeqCst);
        Ok(())
    }
}

pub(super) fn settings(idle: Option<Duration>, wake: Duration) -> LifecycleSettings {
    LifecycleSettings {
        idle_timeout: idle,
        wake_timeout: wake,
        stop_grace: Duration::from_secs(1),
        on_cold: OnCold::Hold,
    }
}

pub(super) fn lifecycle_with(
    fake: &Arc<Fake>,
    settings: LifecycleSettings,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Arc<Lifecycle> {
    Lifecycle::new(
        "fake",
        settings,
        Arc::new(FakeProvider(fake.clone())),
        Box::new(|_url| Ok(Arc::new(MockBackend::new(MockConfig::default())) as Arc<dyn Backend>)),
        tasks.clone(),
        cancel.clone(),
    )
}

fn lifecycle(fake: &Arc<Fake>, idle: Option<Duration>, wake: Duration) -> Arc<Lifecycle> {
    lifecycle_with(
        fake,
        settings(idle, wake),
        &TaskTracker::new(),
        &CancellationToken::new(),
    )
}

pub(super) async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn hundred_concurrent_requests_share_one_wake() {
    let fake = Arc::new(Fake::default());
    *fake.start_delay.lock().unwrap() = Duration::from_secs(5);
    let lc = lifecycle(
        &fake,
        Some(Duration::from_secs(300)),
        Duration::from_secs(600),
    );
    let mut handles = Vec::new();
    for _ in 0..100 {
        let lc = lc.clone();
        handles.push(tokio::spawn(async move { lc.acquire().await.map(|_| ()) }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(fake.starts.load(SeqCst), 1);
    let s = lc.snapshot();
    assert_eq!(s.phase, Phase::Ready);
    assert_eq!(s.in_flight, 100);
    assert_eq!(s.wakes.count(), 1);
    assert_eq!(s.wakes.last(), Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn idle_stop_then_rewake() {
    let fake = Arc::new(Fake::default());
    let lc = lifecycle(
        &fake,
        Some(Duration::from_secs(60)),
        Duration::from_secs(600),
    );
    lc.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        lc.snapshot().phase,
        Phase::Ready,
        "in-flight work keeps it alive"
    );
    lc.release(None);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(lc.snapshot().phase, Phase::Ready);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    settle().await;
    assert_eq!(
        lc.snapshot().phase,
        Phase::Draining,
        "stopping takes 200 ms"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Cold);
    assert_eq!(fake.stops.load(SeqCst), 1);
    lc.acquire().await.unwrap();
    assert_eq!(fake.starts.load(SeqCst), 2);
    assert_eq!(lc.snapshot().wakes.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn request_during_drain_waits_for_the_restart() {
    let fake = Arc::new(Fake::default());
    let lc = lifecycle(
        &fake,
        Some(Duration::from_secs(10)),
        Duration::from_secs(600),
    );
    lc.acquire().await.unwrap();
    lc.release(None);
    tokio::time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Draining);
    // Stopping takes 200 ms; this request arrives in the middle of it and must not be lost.
    lc.acquire().await.unwrap();
    assert_eq!(fake.stops.load(SeqCst), 1);
    assert_eq!(fake.starts.load(SeqCst), 2);
    assert_eq!(lc.snapshot().phase, Phase::Ready);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_zero_unloads_and_forever_never_does() {
    let fake = Arc::new(Fake::default());
    let lc = lifecycle(
        &fake,
        Some(Duration::from_secs(300)),
        Duration::from_secs(600),
    );
    lc.acquire().await.unwrap();
    lc.release(Some(KeepAlive::Forever));
    tokio::time::sleep(Duration::from_secs(100_000)).await;
    assert_eq!(lc.snapshot().phase, Phase::Ready);
    lc.acquire().await.unwrap();
    lc.release(Some(KeepAlive::For(Duration::ZERO)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(lc.snapshot().phase, Phase::Cold);
    assert_eq!(fake.stops.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn start_that_never_becomes_ready_times_out() {
    let fake = Arc::new(Fake::default());
    *fake.hang.lock().unwrap() = true;
    let lc = lifecycle(&fake, None, Duration::from_secs(30));
    let err = lc.acquire().await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::BackendTimeout);
    assert_eq!(err.status(), 504);
    assert!(err.message.contains("did not become ready"));
}

#[tokio::test(start_paused = true)]
async fn crash_is_failed_then_restarts_with_backoff() {
    let fake = Arc::new(Fake::default());
    let lc = lifecycle(&fake, None, Duration::from_secs(600));
    lc.acquire().await.unwrap();
    lc.release(None);
    fake.crash.notify_one();
    tokio::time::sleep(Duration::from_millis(10)).await;
    settle().await;
    let s = lc.snapshot();
    assert_eq!(
        (s.phase, s.crashes),
        (Phase::Draining, 1),
        "what the crash left behind is cleared before a restart"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle().await;
    let s = lc.snapshot();
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.last_error.as_deref(), Some("fake crash"));
    assert_eq!(fake.stops.load(SeqCst), 1);
    // The first failure restarts on the next request.
    lc.acquire().await.unwrap();
    assert_eq!(fake.starts.load(SeqCst), 2);
    lc.release(None);
    // After a stable run a crash starts a new streak: the next request restarts it, and
    // two failed starts in a row follow: the waiting request gets the error, and the next
    // request inside the backoff window is refused with Retry-After.
    tokio::time::sleep(Duration::from_secs(61)).await;
    fake.fail_next.store(2, SeqCst);
    fake.crash.notify_one();
    settle().await;
    let first = lc.acquire().await.err().unwrap();
    assert!(
        first
            .detail
            .unwrap_or_default()
            .contains("fake start failure")
    );
    let second = lc.acquire().await.err().unwrap();
    assert!(
        second.retry_after.is_some_and(|d| d > Duration::ZERO),
        "{second:?}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let third = lc.acquire().await;
    assert!(third.is_err(), "second start failure");
    tokio::time::sleep(Duration::from_secs(5)).await;
    lc.acquire().await.unwrap();
    assert_eq!(lc.snapshot().phase, Phase::Ready);
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_backs_off() {
    let fake = Arc::new(Fake::default());
    let lc = lifecycle(&fake, None, Duration::from_secs(600));
    for expected_failures in 1..=3 {
        lc.acquire().await.unwrap();
        lc.release(None);
        tokio::time::sleep(Duration::from_secs(5)).await;
        fake.crash.notify_one();
        tokio::time::sleep(Duration::from_millis(300)).await;
        settle().await;
        let s = lc.snapshot();
        assert_eq!((s.phase, s.failures), (Phase::Failed, expected_failures));
        if expected_failures > 1 {
            let e = lc.acquire().await.err().unwrap();
            assert_eq!(e.status(), 503);
            assert!(e.message.contains("will be started again"), "{}", e.message);
            tokio::time::sleep(e.retry_after.unwrap()).await;
        }
    }
    assert_eq!(fake.starts.load(SeqCst), 3);
}
