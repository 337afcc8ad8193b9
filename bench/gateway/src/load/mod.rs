//! The load generator: a pooled keep-alive HTTP/1.1 client, what to send where, and the
//! latency summaries both load shapes report. `rate` drives a fixed request rate (open
//! loop); `streams` holds a fixed number of streams open.

pub mod rate;
pub mod streams;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::time::Duration;

/// One pooled client for a whole run: connections are reused across requests.
pub type Client = HyperClient<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// How many keep-alive connections the fixed-rate load spreads its requests over.
///
/// A gateway serves many clients at once, while one client's pool at a low rate settles on
/// a single hot connection. 32 is what the independent check (`oha -c 32`) uses, so the two
/// measure the same shape of traffic (at 1,000 RPS oha put 32 connections ~0.05 ms of added
/// p50 above one connection; this load generator, ~0.01 ms).
pub const CONNECTIONS: usize = 32;

/// `n` pooled clients taken in turn, request `i` on client `i mod n`: the load spreads over
/// `n` keep-alive connections, like `n` clients each sending every `n`-th request. A
/// client whose connection is still busy opens another (the load stays open loop: nothing
/// waits for a free connection).
#[derive(Clone)]
pub struct Clients(std::sync::Arc<[Client]>);

impl Clients {
    pub fn new(n: usize) -> Self {
        Self((0..n.max(1)).map(|_| client()).collect())
    }

    pub fn get(&self, i: u64) -> &Client {
        // The slice is never empty (`new` makes at least one), so the modulus is non-zero.
        let n = self.0.len().max(1) as u64;
        &self.0[(i % n) as usize]
    }
}

/// Where a request goes and how it must look.
#[derive(Debug, Clone)]
pub struct Target {
    pub uri: Uri,
    pub bearer: Option<HeaderValue>,
    pub body: Bytes,
    /// A byte string a successful answer must contain (checked on the body's tail for
    /// streams); an answer without it counts as an error.
    pub expect: &'static [u8],
}

impl Target {
    pub fn request(&self) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "*/*");
        if let Some(token) = &self.bearer {
            builder = builder.header(header::AUTHORIZATION, token.clone());
        }
        builder.body(Full::new(self.body.clone()))
    }
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A latency histogram in nanoseconds, up to one minute, three significant digits.
pub fn histogram() -> Result<Histogram<u64>, crate::BoxError> {
    Ok(Histogram::new_with_bounds(1_000, 60_000_000_000, 3)?)
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    h.saturating_record(ns.max(1_000));
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Self {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}
