//! The `external` provider: a backend that something else starts and stops on the demand
//! devassist publishes — KEDA, an operator's script. It starts nothing and stops nothing.
//! (Knative and Cloud Run scale on requests themselves: there the backend is `always_on`, and
//! these readiness probes would keep it awake.)
//!
//! A wake only makes the backend wanted: the lifecycle enters `starting`, the requests that
//! wait for it count as queued, and `GET /status/queue` (what the scaler reads) reports the
//! demand. Meanwhile the backend's readiness URL is polled until it answers 200, at most
//! `wake_timeout`; then the held requests are served. An idle stop only ends the backend's
//! counting as ready here: the demand falls to zero and the scaler takes the backend down.
//!
//! While it is ready the readiness URL is polled every `HEALTH_INTERVAL`; failing
//! `HEALTH_FAILURES` times in a row counts as the backend gone (a crash in `/status`), so
//! the next request makes it wanted again and waits for it.

use super::kind::ProviderKind;
use super::provider::{Instance, Provider};
use super::ready;
use devassist_backends::http::GetOptions;
use devassist_core::GatewayError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Time between two health checks of a ready backend.
const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Failed health checks in a row after which the backend counts as gone.
const HEALTH_FAILURES: u32 = 3;

/// Where an externally scaled backend answers, and how to tell that it is up.
#[derive(Debug, Clone)]
pub struct ExternalSpec {
    /// The backend's base URL (a Kubernetes Service).
    pub url: String,
    /// Polled until it answers 200.
    pub ready_url: String,
    /// Time between two probes while waiting.
    pub ready_interval: Duration,
    /// Longest wait for a wake (the backend's `wake_timeout`).
    pub ready_timeout: Duration,
}

pub struct ExternalProvider {
    pub name: String,
    pub spec: ExternalSpec,
    /// Sent as a bearer token with each probe (the backend's `api_key`).
    pub api_key: Option<String>,
    pub client: GetOptions,
}

impl ExternalProvider {
    pub fn new(name: impl Into<String>, spec: ExternalSpec, api_key: Option<String>) -> Self {
        Self {
            name: name.into(),
            spec,
            api_key,
            client: ready::probe_client(),
        }
    }
}

/// One probe of `url`: whether it answers 200 now.
async fn probe(client: &GetOptions, url: &str, api_key: Option<&str>) -> bool {
    let options = GetOptions {
        api_key: api_key.map(str::to_owned),
        ..client.clone()
    };
    ready::probe(&options, url).await
}

/// Probes every `interval` until a probe succeeds; false once `timeout` has passed.
async fn wait_ready<F, Fut>(mut probe: F, interval: Duration, timeout: Duration) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        if Instant::now() + interval > deadline {
            return false;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Probes every `interval` while the backend is up; returns once `failures` probes in a
/// row failed.
async fn watch<F, Fut>(mut probe: F, interval: Duration, failures: u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut failed = 0;
    loop {
        tokio::time::sleep(interval).await;
        if probe().await {
            failed = 0;
        } else {
            failed += 1;
            if failed >= failures {
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl Provider for ExternalProvider {
    async fn start(&self) -> Result<Box<dyn Instance>, GatewayError> {
        let spec = &self.spec;
        tracing::info!(backend = %self.name, ready_url = %spec.ready_url,
            "Backend wanted: waiting for the external scaler to bring it up");
        let key = self.api_key.as_deref();
        let up = wait_ready(
            || probe(&self.client, &spec.ready_url, key),
            spec.ready_interval,
            spec.ready_timeout,
        )
        .await;
        if !up {
            return Err(GatewayError::backend_timeout(format!(
                "backend `{}` did not become ready within {}",
                self.name,
                humantime::format_duration(spec.ready_timeout)
            ))
            .with_detail(format!(
                "{} never answered 200; is the external scaler (KEDA) scaling it on \
                 GET /status/queue?",
                spec.ready_url
            )));
        }
        Ok(Box::new(Up {
            name: self.name.clone(),
            url: spec.url.clone(),
            ready_url: spec.ready_url.clone(),
            api_key: self.api_key.clone(),
            client: self.client.clone(),
        }))
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::External
    }
}

/// A backend that answered its readiness URL.
struct Up {
    name: String,
    url: String,
    ready_url: String,
    api_key: Option<String>,
    client: GetOptions,
}

#[async_trait::async_trait]
impl Instance for Up {
    fn base_url(&self) -> &str {
        &self.url
    }

    async fn exited(&mut self) -> String {
        let key = self.api_key.as_deref();
        watch(
            || probe(&self.client, &self.ready_url, key),
            HEALTH_INTERVAL,
            HEALTH_FAILURES,
        )
        .await;
        format!(
            "{} failed {HEALTH_FAILURES} health checks in a row: the backend went away",
            self.ready_url
        )
    }

    async fn stop(self: Box<Self>, _grace: Duration) -> Result<(), String> {
        tracing::info!(backend = %self.name,
            "Backend idle: no longer wanted, the external scaler may scale it down");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    /// A probe that fails `fail_first` times, then succeeds; counts its calls.
    fn flaky(fail_first: u32) -> (Arc<AtomicU32>, impl FnMut() -> std::future::Ready<bool>) {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        (calls, move || {
            let n = c.fetch_add(1, SeqCst);
            std::future::ready(n >= fail_first)
        })
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_polls_at_the_interval_until_the_backend_answers() {
        let (calls, p) = flaky(5);
        let t0 = Instant::now();
        assert!(wait_ready(p, Duration::from_secs(1), Duration::from_secs(60)).await);
        assert_eq!(calls.load(SeqCst), 6);
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_gives_up_at_the_timeout() {
        let (calls, p) = flaky(u32::MAX);
        let t0 = Instant::now();
        assert!(!wait_ready(p, Duration::from_secs(1), Duration::from_secs(10)).await);
        assert_eq!(t0.elapsed(), Duration::from_secs(10));
        assert_eq!(calls.load(SeqCst), 11, "probes at 0, 1, ..., 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_is_cut_at_the_timeout() {
        let t0 = Instant::now();
        let up = wait_ready(
            std::future::pending::<bool>,
            Duration::from_secs(1),
            Duration::from_secs(30),
        )
        .await;
        assert!(!up);
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn watch_returns_after_failures_in_a_row_only() {
        // ok, fail, fail, ok, fail, fail, fail: gone at the 7th check.
        let script = [true, false, false, true, false, false, false];
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let t0 = Instant::now();
        watch(
            move || {
                let i = c.fetch_add(1, SeqCst) as usize;
                std::future::ready(script.get(i).copied().unwrap_or(true))
            },
            Duration::from_secs(10),
            3,
        )
        .await;
        assert_eq!(calls.load(SeqCst), 7);
        assert_eq!(t0.elapsed(), Duration::from_secs(70));
    }

    /// A real server whose readiness answers 503 until `up` is set.
    async fn server(up: Arc<std::sync::atomic::AtomicBool>) -> std::io::Result<String> {
        use axum::http::StatusCode;
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let up = up.clone();
                async move {
                    if up.load(SeqCst) {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}"))
    }

    fn provider(root: &str, timeout: Duration) -> ExternalProvider {
        ExternalProvider::new(
            "gpu",
            ExternalSpec {
                url: format!("{root}/v1"),
                ready_url: format!("{root}/health"),
                ready_interval: Duration::from_millis(10),
                ready_timeout: timeout,
            },
            None,
        )
    }

    #[tokio::test]
    async fn start_waits_for_a_real_backend_to_answer() -> Result<(), Box<dyn std::error::Error>> {
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let root = server(up.clone()).await?;
        let p = provider(&root, Duration::from_secs(10));
        let flip = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            up.store(true, SeqCst);
        });
        let t0 = std::time::Instant::now();
        let instance = p.start().await?;
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert_eq!(instance.base_url(), format!("{root}/v1"));
        assert_eq!(p.kind(), ProviderKind::External);
        flip.await?;
        Ok(())
    }

    #[tokio::test]
    async fn start_times_out_with_a_backend_timeout() -> Result<(), Box<dyn std::error::Error>> {
        let root = server(Arc::new(std::sync::atomic::AtomicBool::new(false))).await?;
        let p = provider(&root, Duration::from_millis(300));
        let Err(e) = p.start().await else {
            panic!("started a backend that never answered");
        };
        assert_eq!(e.kind, devassist_core::ErrorKind::BackendTimeout);
        assert!(e.to_string().contains("did not become ready"), "{e}");
        Ok(())
    }
}
