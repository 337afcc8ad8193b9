//! The Prometheus series recorded per request, and their labels. One `Metrics` per gateway
//! (its own registry, so tests can run gateways side by side). Recording a finished request
//! takes a handful of map lookups on label sets of `&'static str`, numbers and shared model
//! names: nothing is formatted or allocated once a label set has been seen.
//!
//! Model and backend names come from the configuration (`labels`): a name the gateway does
//! not serve is recorded as `other`, so clients cannot grow the series.

use super::labels::{Labels, NONE};
use devassist_core::Feature;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Request latency (whole answer), seconds: LLM answers take from tens of milliseconds (a
/// short completion) to minutes (a long chat answer on a busy GPU).
const DURATION_BUCKETS: [f64; 14] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// Time to first token, seconds: what a code completion user feels (goal: under ~0.5 s).
const TTFT_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];
/// The gateway's own work before the upstream call, seconds: tens of microseconds normally.
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// Why a request was refused before any model worked on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The gateway's or a backend's capacity (in-flight cap, full queue): 503.
    Overload,
    /// The body was over `server.max_body_bytes`: 413.
    BodyLimit,
    /// A rate, token or concurrency limit of the caller: 429.
    RateLimited,
    /// No or bad credentials: 401.
    Unauthenticated,
    /// Credentials that do not allow this model or feature: 403.
    Forbidden,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Overload => "overload",
            RejectReason::BodyLimit => "body_limit",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::Unauthenticated => "unauthenticated",
            RejectReason::Forbidden => "forbidden",
        }
    }
}

impl EncodeLabelValue for RejectReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    surface: &'static str,
    feature: &'static str,
    model: Arc<str>,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    feature: &'static str,
    model: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: Arc<str>,
    r#type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    surface: &'static str,
    reason: RejectReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabels {
    surface: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: &'static str,
}

/// The shared limit store's health (`[limits] store = "redis"`): its failed commands, and
/// the requests that `on_redis_error` decided because of them. Cheap to clone: the store
/// keeps a copy and counts into the same series.
#[derive(Debug, Clone, Default)]
pub struct LimitStoreMetrics {
    errors: Family<OpLabels, Counter>,
    fallbacks: Family<PolicyLabels, Counter>,
}

impl LimitStoreMetrics {
    /// A command that failed or timed out: `op` is `admit`, `spend`, `release` or
    /// `refresh`; `queue`: a message the worker's full queue dropped.
    pub fn error(&self, op: &'static str) {
        self.errors.get_or_create(&OpLabels { op }).inc();
    }

    /// A request admitted unchecked (`open`) or refused with 503 (`closed`) because the
    /// store failed.
    pub fn fallback(&self, policy: &'static str) {
        self.fallbacks.get_or_create(&PolicyLabels { policy }).inc();
    }

    #[cfg(test)]
    pub fn errors(&self, op: &'static str) -> u64 {
        self.errors.get_or_create(&OpLabels { op }).get()
    }

    #[cfg(test)]
    pub fn fallbacks(&self, policy: &'static str) -> u64 {
        self.fallbacks.get_or_create(&PolicyLabels { policy }).get()
    }
}

/// What one finished request contributes.
#[derive(Debug, Clone)]
pub struct Finished {
    pub surface: &'static str,
    pub feature: Option<Feature>,
    pub model: Option<Arc<str>>,
    pub status: u16,
    pub duration: Duration,
    pub first_event: Option<Duration>,
    pub overhead: Option<Duration>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

pub struct Metrics {
    registry: Registry,
    pub labels: Labels,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<ModelLabels>,
    ttft: Histograms<ModelLabels>,
    overhead: Histograms<SurfaceLabels>,
    tokens: Family<TokenLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    usage_dropped: Counter,
    usage_written: Counter,
    usage_write_errors: Counter,
    limit_store: LimitStoreMetrics,
    /// Secrets redacted, expanded-log records (`privacy.rs`).
    pub privacy: super::privacy::PrivacyMetrics,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn ttft_histogram() -> Histogram {
    Histogram::new(TTFT_BUCKETS)
}

fn overhead_histogram() -> Histogram {
    Histogram::new(OVERHEAD_BUCKETS)
}

impl Metrics {
    pub fn new(labels: Labels) -> Self {
        let mut registry = Registry::with_prefix("devassist");
        let requests = Family::default();
        let duration: Histograms<ModelLabels> = Family::new_with_constructor(duration_histogram);
        let ttft: Histograms<ModelLabels> = Family::new_with_constructor(ttft_histogram);
        let overhead: Histograms<SurfaceLabels> = Family::new_with_constructor(overhead_histogram);
        let tokens = Family::default();
        let rejected = Family::default();
        let usage_dropped = Counter::default();
        let usage_written = Counter::default();
        let usage_write_errors = Counter::default();
        let limit_store = LimitStoreMetrics::default();
        registry.register(
            "requests",
            "Requests answered, by API surface, feature, model and HTTP status (499: the \
             client went away; an error after the answer began counts with its own status)",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            duration.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from a request's arrival to the first event of its answer",
            ttft.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "The gateway's own time before sending a request upstream: from its arrival to \
             the upstream call, less the time spent waiting in a backend's queue or for it \
             to wake",
            overhead.clone(),
        );
        registry.register(
            "tokens",
            "Tokens processed, by model and type (prompt: in, completion: out)",
            tokens.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests refused before any model worked on them, by reason",
            rejected.clone(),
        );
        registry.register(
            "usage_records_dropped",
            "Usage records lost: the writer was behind (its queue full) or stopped, or the \
             database refused their batch",
            usage_dropped.clone(),
        );
        registry.register(
            "usage_records_written",
            "Usage records written to the usage database",
            usage_written.clone(),
        );
        registry.register(
            "usage_write_errors",
            "Batches of usage records the usage database refused",
            usage_write_errors.clone(),
        );
        registry.register(
            "limit_store_errors",
            "Commands to the shared limit store (Redis) that failed or timed out, by \
             operation: admit (a request's limit check), spend (counting an answer's tokens), \
             release and refresh (places among requests in progress)",
            limit_store.errors.clone(),
        );
        registry.register(
            "limit_store_fallbacks",
            "Requests decided by `[limits] on_redis_error` because the limit store failed: \
             policy=\"open\" admitted without their limits checked, policy=\"closed\" refused \
             with 503",
            limit_store.fallbacks.clone(),
        );
        let privacy = super::privacy::PrivacyMetrics::register(&mut registry);
        Self {
            privacy,
            registry,
            labels,
            requests,
            duration,
            ttft,
            overhead,
            tokens,
            rejected,
            usage_dropped,
            usage_written,
            usage_write_errors,
            limit_store,
        }
    }

    /// The limit store's series, for the store to count into.
    pub fn limit_store(&self) -> LimitStoreMetrics {
        self.limit_store.clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records a finished request.
    pub fn record(&self, f: &Finished) {
        let feature = f.feature.map_or(NONE, Feature::as_str);
        let model = f.model.clone().unwrap_or_else(|| self.labels.none());
        self.requests
            .get_or_create(&RequestLabels {
                surface: f.surface,
                feature,
                model: model.clone(),
                status: f.status,
            })
            .inc();
        if let Some(overhead) = f.overhead {
            self.overhead
                .get_or_create(&SurfaceLabels { surface: f.surface })
                .observe(overhead.as_secs_f64());
        }
        // Latency series are about answers; a refused request would drag them down.
        if f.feature.is_none() || f.model.is_none() {
            return;
        }
        let by_model = ModelLabels {
            feature,
            model: model.clone(),
        };
        if f.status < 400 {
            self.duration
                .get_or_create(&by_model)
                .observe(f.duration.as_secs_f64());
        }
        if let Some(first) = f.first_event {
            self.ttft
                .get_or_create(&by_model)
                .observe(first.as_secs_f64());
        }
        for (kind, n) in [
            ("prompt", f.prompt_tokens),
            ("completion", f.completion_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model.clone(),
                        r#type: kind,
                    })
                    .inc_by(u64::from(n));
            }
        }
    }

    /// Counts a refused request. The telemetry layer calls this for every answer whose
    /// error is of a refusing kind (see `telemetry::observe`); code that refuses a request
    /// without answering it through a surface's dialect calls it itself.
    pub fn rejected(&self, surface: &'static str, reason: RejectReason) {
        self.rejected
            .get_or_create(&RejectLabels { surface, reason })
            .inc();
    }

    pub fn usage_dropped(&self, n: u64) {
        self.usage_dropped.inc_by(n);
    }

    pub fn usage_written(&self, n: u64) {
        self.usage_written.inc_by(n);
    }

    pub fn usage_write_error(&self) {
        self.usage_write_errors.inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
