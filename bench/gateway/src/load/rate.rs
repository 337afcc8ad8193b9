//! Open-loop load at a fixed request rate, corrected for coordinated omission.
//!
//! A dedicated OS thread keeps the timetable: request `i` is due at `start + i / rate`, and
//! the thread sleeps with the kernel's high-resolution timers (tokio's timer wheel ticks in
//! whole milliseconds, too coarse for sub-millisecond overhead). Each due request becomes
//! its own task whatever happened to the earlier ones, and its latency is measured from the
//! time it was *due*, so a stalled server shows up as latency instead of as fewer requests
//! sent. The lag between due and actually sent is reported separately so readers can see
//! how much of the latency is the load generator's.

use super::{Client, Clients, Summary, Target, contains, histogram, record as record_ns};
use crate::BoxError;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One fixed-rate run.
#[derive(Debug, Clone, Copy)]
pub struct RateRun {
    pub rps: f64,
    /// Measured time; requests due in it are counted.
    pub duration: Duration,
    /// Time run at the same rate before measuring (connections warm up, caches fill).
    pub warmup: Duration,
    /// A request not answered this long after it was sent is an error.
    pub timeout: Duration,
    /// Requests beyond this many in flight are not sent and count as errors.
    pub max_in_flight: usize,
}

/// How the measured requests ended.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Errors {
    /// Non-2xx answers.
    pub status: u64,
    /// Connection refused, reset, or a broken body.
    pub transport: u64,
    pub timeout: u64,
    /// 2xx answers without the expected content.
    pub bad_body: u64,
    /// Not sent: too many already in flight.
    pub overflow: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.status + self.transport + self.timeout + self.bad_body + self.overflow
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateResult {
    pub target_rps: f64,
    pub duration_s: f64,
    pub sent: u64,
    pub ok: u64,
    pub errors: Errors,
    pub error_rate: f64,
    pub achieved_rps: f64,
    /// Due time → whole answer read: what a client on the timetable experiences.
    pub latency: Summary,
    /// Actually sent → whole answer read.
    pub service: Summary,
    /// Due → actually sent: the load generator's own lag.
    pub lag: Summary,
}

enum Outcome {
    Ok,
    Status,
    Transport,
    Timeout,
    BadBody,
    Overflow,
}

struct Sample {
    measured: bool,
    due: Instant,
    sent: Instant,
    done: Instant,
    outcome: Outcome,
}

/// What one or more runs at the same rate recorded, before summarising: histograms that
/// add up, so slices of a run interleaved with other targets' slices can be merged.
pub struct Recorded {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    errors: Errors,
    ok: u64,
    /// Measured time, summed over the merged runs.
    duration: Duration,
}

impl Recorded {
    pub fn empty() -> Result<Self, BoxError> {
        Ok(Self {
            latency: histogram()?,
            service: histogram()?,
            lag: histogram()?,
            errors: Errors::default(),
            ok: 0,
            duration: Duration::ZERO,
        })
    }

    /// Adds `other`'s requests to these.
    pub fn merge(&mut self, other: &Self) -> Result<(), BoxError> {
        self.latency.add(&other.latency)?;
        self.service.add(&other.service)?;
        self.lag.add(&other.lag)?;
        let (a, b) = (&mut self.errors, &other.errors);
        a.status += b.status;
        a.transport += b.transport;
        a.timeout += b.timeout;
        a.bad_body += b.bad_body;
        a.overflow += b.overflow;
        self.ok += other.ok;
        self.duration += other.duration;
        Ok(())
    }

    pub fn result(&self, target_rps: f64) -> RateResult {
        let sent = self.ok + self.errors.total();
        let duration_s = self.duration.as_secs_f64();
        RateResult {
            target_rps,
            duration_s,
            sent,
            ok: self.ok,
            errors: self.errors,
            error_rate: if sent == 0 {
                1.0
            } else {
                self.errors.total() as f64 / sent as f64
            },
            achieved_rps: if duration_s > 0.0 {
                self.ok as f64 / duration_s
            } else {
                0.0
            },
            latency: Summary::of(&self.latency),
            service: Summary::of(&self.service),
            lag: Summary::of(&self.lag),
        }
    }
}

/// Runs `run` against `target` and summarises the measured part.
pub async fn run(clients: &Clients, target: &Target, run: RateRun) -> Result<RateResult, BoxError> {
    Ok(record(clients, target, run).await?.result(run.rps))
}

/// Runs `run` against `target` and returns what the measured part recorded.
pub async fn record(
    clients: &Clients,
    target: &Target,
    run: RateRun,
) -> Result<Recorded, BoxError> {
    let period = Duration::from_secs_f64(1.0 / run.rps.max(0.001));
    let warm_n = (run.warmup.as_secs_f64() * run.rps).round() as u64;
    let total = warm_n + (run.duration.as_secs_f64() * run.rps).round() as u64;
    let start = std::time::Instant::now() + Duration::from_millis(20);

    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<(u64, std::time::Instant)>();
    let timetable = std::thread::Builder::new()
        .name("timetable".into())
        .spawn(move || {
            for i in 0..total {
                let due = start + period.mul_f64(i as f64);
                let now = std::time::Instant::now();
                // Waking up costs ~50 µs; closer than that, send now.
                if due > now + Duration::from_micros(50) {
                    std::thread::sleep(due - now);
                }
                if due_tx.send((i, due)).is_err() {
                    return;
                }
            }
        })?;

    let (sample_tx, sample_rx) = mpsc::unbounded_channel::<Sample>();
    let collector = tokio::spawn(collect(sample_rx));
    let in_flight = Arc::new(AtomicUsize::new(0));
    while let Some((i, due)) = due_rx.recv().await {
        let due = Instant::from_std(due);
        let measured = i >= warm_n;
        if in_flight.load(Ordering::Relaxed) >= run.max_in_flight {
            let now = Instant::now();
            let _ = sample_tx.send(Sample {
                measured,
                due,
                sent: now,
                done: now,
                outcome: Outcome::Overflow,
            });
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (client, target, tx, in_flight) = (
            clients.get(i).clone(),
            target.clone(),
            sample_tx.clone(),
            in_flight.clone(),
        );
        tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = match tokio::time::timeout(run.timeout, one(&client, &target)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Timeout,
            };
            let done = Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(Sample {
                measured,
                due,
                sent,
                done,
                outcome,
            });
        });
    }
    drop(sample_tx);
    let _ = timetable.join();
    let mut recorded = collector.await??;
    recorded.duration = run.duration;
    Ok(recorded)
}

async fn one(client: &Client, target: &Target) -> Outcome {
    let Ok(request) = target.request() else {
        return Outcome::Transport;
    };
    let response = match client.request(request).await {
        Ok(r) => r,
        Err(_) => return Outcome::Transport,
    };
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Outcome::Transport,
    };
    if !status.is_success() {
        Outcome::Status
    } else if !contains(&body, target.expect) {
        Outcome::BadBody
    } else {
        Outcome::Ok
    }
}

async fn collect(mut rx: mpsc::UnboundedReceiver<Sample>) -> Result<Recorded, BoxError> {
    let mut r = Recorded::empty()?;
    while let Some(s) = rx.recv().await {
        if !s.measured {
            continue;
        }
        match s.outcome {
            Outcome::Ok => {
                r.ok += 1;
                record_ns(&mut r.latency, s.done - s.due);
                record_ns(&mut r.service, s.done - s.sent);
                record_ns(&mut r.lag, s.sent - s.due);
            }
            Outcome::Status => r.errors.status += 1,
            Outcome::Transport => r.errors.transport += 1,
            Outcome::Timeout => r.errors.timeout += 1,
            Outcome::BadBody => r.errors.bad_body += 1,
            Outcome::Overflow => r.errors.overflow += 1,
        }
    }
    Ok(r)
}
