//! The whole benchmark in one run: start the mock, devassist and LiteLLM, then measure
//! every scenario against every target in turn, so all figures come from the same machine
//! state. Results are written after each phase, so a failure late in the run keeps what
//! was measured before it.

use crate::load::rate::{self, RateResult, RateRun, Recorded};
use crate::load::streams::{self, StreamResult, StreamRun};
use crate::load::{CONNECTIONS, Client, Clients, Target, client};
use crate::procstat::{Monitor, Usage, cpu_seconds, tree};
use crate::report::{Machine, RatePoint, Report, Round, Search, StreamPoint};
use crate::targets::Access;
use crate::{BoxError, targets};
use bytes::Bytes;
use http::HeaderValue;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub devassist: PathBuf,
    /// LiteLLM's virtualenv; `None` leaves LiteLLM out.
    pub litellm_venv: Option<PathBuf>,
    pub litellm_workers: usize,
    /// Where `gateway.json` and `gateway.md` go.
    pub out: PathBuf,
    /// Short phases, for a smoke test of the harness itself.
    pub quick: bool,
    /// Run the latency phases under SCHED_RR (see `set_realtime`).
    pub realtime: bool,
    /// Only the fixed-rate phases (no streams, soak or rate search).
    pub latency_only: bool,
    /// An OpenAI-compatible upstream to use instead of starting the mock (a cross-check
    /// against another server); needs `latency_only`, as the stream phases need the
    /// mock's paced streams.
    pub upstream: Option<String>,
    /// Also measure devassist with API-key authentication and a per-key limit (in memory),
    /// at fixed rates and in the rate search, beside the same gateway without it.
    pub auth: bool,
    /// … and with that limit held in a Redis server (started for the run).
    pub redis: bool,
}

/// Durations of each kind of phase.
struct Timing {
    fixed: [(f64, Duration); 2],
    /// The fixed-rate time of each target is cut into this many slices, taken in turn with
    /// the other targets' slices (see `interleaved`).
    rounds: u32,
    warmup: Duration,
    step: Duration,
    stream_ramp: Duration,
    stream_run: Duration,
    concurrency: [usize; 2],
    /// The largest stream count held this long through devassist alone: memory at steady
    /// state, once every connection's buffers have been written through (a short phase
    /// reads RSS before that and flatters it).
    soak: Duration,
}

pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const CHUNKS: u32 = 64;
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);
/// Warm-up at the start of every interleaved slice: the first requests after a pause find
/// colder caches, through the gateway or not.
const SLICE_WARMUP: Duration = Duration::from_millis(250);
const SEARCH_START: f64 = 100.0;
const SEARCH_CAP: f64 = 64_000.0;

/// One gateway (or none) and how to reach it.
pub(crate) struct Endpoint {
    pub(crate) label: &'static str,
    /// Measured in slices interleaved with the others at fixed rates (LiteLLM is not: at
    /// 1,000 RPS it falls behind and its backlog would spill into the next slice).
    pub(crate) interleave: bool,
    pub(crate) base: String,
    pub(crate) pid: Option<u32>,
    pub(crate) bearer: Option<HeaderValue>,
    pub(crate) ollama: bool,
    /// Measured in the stream phases too (the auth variants are not: authentication
    /// happens once per request, which the fixed rates and the rate search measure).
    pub(crate) streams: bool,
}

impl Endpoint {
    fn target(&self, stream: bool) -> Result<Target, BoxError> {
        endpoint_target(&self.base, self.ollama, self.bearer.clone(), stream)
    }
}

/// A chat request to `base` in the OpenAI or the Ollama dialect, and what its answer must
/// contain to count as a success.
pub fn endpoint_target(
    base: &str,
    ollama: bool,
    bearer: Option<HeaderValue>,
    stream: bool,
) -> Result<Target, BoxError> {
    let messages = r#"[{"role":"user","content":"Say hello"}]"#;
    let (path, body, expect): (&str, String, &'static [u8]) = if ollama {
        (
            "/api/chat",
            format!(r#"{{"model":"bench","messages":{messages},"stream":{stream}}}"#),
            if stream {
                br#""done":true"#
            } else {
                b"Hello from the mock upstream."
            },
        )
    } else {
        (
            "/v1/chat/completions",
            format!(
                r#"{{"model":"bench","messages":{messages},"max_tokens":64,"stream":{stream}}}"#
            ),
            if stream {
                b"[DONE]"
            } else {
                b"Hello from the mock upstream."
            },
        )
    };
    Ok(Target {
        uri: format!("{}{path}", base.trim_end_matches('/')).parse()?,
        bearer,
        body: Bytes::from(body),
        expect,
    })
}

pub async fn run(opts: Options) -> Result<Report, BoxError> {
    let began = Instant::now();
    let t = if opts.quick {
        Timing {
            fixed: [
                (100.0, Duration::from_secs(3)),
                (1000.0, Duration::from_secs(3)),
            ],
            rounds: 3,
            warmup: Duration::from_millis(500),
            step: Duration::from_secs(2),
            stream_ramp: Duration::from_millis(500),
            stream_run: Duration::from_secs(3),
            concurrency: [10, 100],
            soak: Duration::from_secs(5),
        }
    } else {
        Timing {
            fixed: [
                (100.0, Duration::from_secs(20)),
                (1000.0, Duration::from_secs(10)),
            ],
            rounds: 5,
            warmup: Duration::from_secs(2),
            step: Duration::from_secs(4),
            stream_ramp: Duration::from_millis(1500),
            stream_run: Duration::from_secs(8),
            concurrency: [100, 1000],
            soak: Duration::from_secs(60),
        }
    };
    let dir = targets::work_dir()?;
    eprintln!(
        "bench-gateway: configs and gateway logs in {}",
        dir.display()
    );
    let mut report = Report::new(Machine::describe(), &opts);
    if opts.upstream.is_some() && !opts.latency_only {
        return Err("--upstream needs --latency-only: the stream phases need the mock".into());
    }
    let (mock, upstream) = match &opts.upstream {
        Some(url) => (None, url.trim_end_matches('/').to_owned()),
        None => {
            let (proc, base) = targets::mock(CHUNKS, INTERVAL)?;
            (Some(proc), base)
        }
    };
    let mut endpoints = vec![Endpoint {
        label: "direct",
        interleave: true,
        base: upstream.clone(),
        pid: None,
        bearer: None,
        ollama: false,
        streams: true,
    }];
    let (devassist, base, _) = targets::devassist(
        &opts.devassist,
        &upstream,
        &dir,
        "devassist",
        Access::Open,
        None,
    )?;
    endpoints.push(Endpoint {
        label: "devassist",
        interleave: true,
        base: base.clone(),
        pid: Some(devassist.pid()),
        bearer: None,
        ollama: false,
        streams: true,
    });
    // Scenario 3: the same gateway spoken to in Ollama's dialect.
    endpoints.push(Endpoint {
        label: "devassist-ollama",
        interleave: true,
        base,
        pid: Some(devassist.pid()),
        bearer: None,
        ollama: true,
        streams: true,
    });
    // The same gateway with API keys and a per-key limit: what access control adds.
    let redis = match opts.redis {
        true => Some(targets::redis(&dir)?),
        false => None,
    };
    let mut guarded = Vec::new();
    let variants = [
        (opts.auth, "devassist-auth", Access::Keys),
        (opts.redis, "devassist-redis", Access::KeysRedis),
    ];
    for (label, access) in variants
        .into_iter()
        .filter_map(|(on, l, a)| on.then_some((l, a)))
    {
        let url = redis.as_ref().map(|(_, url)| url.as_str());
        let (proc, base, key) =
            targets::devassist(&opts.devassist, &upstream, &dir, label, access, url)?;
        let bearer = key
            .map(|k| HeaderValue::from_str(&format!("Bearer {k}")))
            .transpose()?;
        endpoints.push(Endpoint {
            label,
            interleave: true,
            base,
            pid: Some(proc.pid()),
            bearer,
            ollama: false,
            streams: false,
        });
        guarded.push(proc);
    }
    // LiteLLM last in every group: it keeps working on requests whose clients have gone
    // (it does not cancel them upstream), and `settle` then waits for it before the next.
    let litellm = match &opts.litellm_venv {
        Some(venv) => {
            report.litellm_version = Some(targets::litellm_version(venv)?);
            let (proc, base) = targets::litellm(venv, &upstream, &dir, opts.litellm_workers)?;
            endpoints.push(Endpoint {
                label: "litellm",
                interleave: false,
                base,
                pid: Some(proc.pid()),
                bearer: Some(HeaderValue::from_str(&format!(
                    "Bearer {}",
                    targets::LITELLM_KEY
                ))?),
                ollama: false,
                streams: true,
            });
            Some(proc)
        }
        None => None,
    };
    // Fixed rates and the rate search spread over `CONNECTIONS` connections; each stream
    // holds a connection of its own anyway.
    let (clients, client) = (Clients::new(CONNECTIONS), client());
    for e in endpoints.iter() {
        ready(&clients, e).await?;
    }
    eprintln!("bench-gateway: all targets answer; measuring");
    // Every process of the benchmark; `watch` are the ones that must be idle between phases.
    let mut watch: Vec<u32> = mock.iter().map(|m| m.pid()).collect();
    watch.extend(endpoints.iter().filter_map(|e| e.pid).flat_map(tree));
    watch.sort_unstable();
    watch.dedup();
    let mut pids = watch.clone();
    pids.push(std::process::id());
    if opts.realtime {
        report.realtime = set_realtime(&pids, true);
        if !report.realtime {
            eprintln!(
                "bench-gateway: could not switch to SCHED_RR (not root, or no chrt); measuring without it"
            );
        }
    }

    // Scenario 1 (and 3): non-streaming at fixed rates.
    for (rps, duration) in t.fixed {
        let together: Vec<&Endpoint> = endpoints.iter().filter(|e| e.interleave).collect();
        let points = interleaved(
            &clients, &together, rps, duration, t.rounds, t.warmup, &watch,
        )
        .await?;
        report.fixed.extend(points);
        for e in endpoints.iter().filter(|e| !e.interleave) {
            let run = RateRun {
                rps,
                duration,
                warmup: t.warmup,
                timeout: TIMEOUT,
                max_in_flight: 4096,
            };
            let point = measure_rate(&clients, e, run, &watch).await?;
            report.fixed.push(point);
        }
        report.save(&opts.out, began)?;
    }
    if opts.latency_only {
        if report.realtime {
            set_realtime(&pids, false);
        }
        report.finish(Machine::loadavg());
        report.save(&opts.out, began)?;
        drop((litellm, guarded, devassist, redis, mock));
        return Ok(report);
    }
    // Scenario 2 (and 3): streams at fixed concurrency.
    for concurrency in t.concurrency {
        for e in endpoints.iter().filter(|e| e.streams) {
            let run = StreamRun {
                concurrency,
                ramp: t.stream_ramp,
                duration: t.stream_run,
                timeout: Duration::from_secs(15),
                stall: INTERVAL * 10,
            };
            let point = measure_streams(&client, e, run, &watch).await?;
            report.streams.push(point);
        }
        report.save(&opts.out, began)?;
    }
    if let Some(e) = endpoints.iter().find(|e| e.label == "devassist") {
        let run = StreamRun {
            concurrency: t.concurrency[1],
            ramp: t.stream_ramp,
            duration: t.soak,
            timeout: Duration::from_secs(15),
            stall: INTERVAL * 10,
        };
        eprintln!("  soak: {} streams for {:?}", run.concurrency, t.soak);
        report.soak_s = t.soak.as_secs_f64();
        report.soak = Some(measure_streams(&client, e, run, &watch).await?);
        report.save(&opts.out, began)?;
    }
    // Highest sustainable rate for each target. Saturating both cores under a real-time
    // policy would starve everything else on the machine, so this runs at normal priority.
    if report.realtime {
        set_realtime(&pids, false);
    }
    for e in endpoints.iter() {
        let search = search(&clients, e, &t, &watch).await?;
        report.search.push(search);
        report.save(&opts.out, began)?;
    }
    report.finish(Machine::loadavg());
    report.save(&opts.out, began)?;
    drop((litellm, guarded, devassist, redis, mock));
    Ok(report)
}

/// Puts every thread of `pids` under SCHED_RR priority 1 (`on`) or back under SCHED_OTHER.
/// On a shared machine, a waking gateway thread otherwise waits behind compilers for
/// milliseconds, which swamps the sub-millisecond figures being measured. Threads started
/// later inherit the policy. True when every change succeeded.
fn set_realtime(pids: &[u32], on: bool) -> bool {
    let (policy, priority) = if on { ("--rr", "1") } else { ("--other", "0") };
    pids.iter().all(|pid| {
        std::process::Command::new("chrt")
            .args([policy, "--all-tasks", "--pid", priority, &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Waits until a real request through `e` succeeds (LiteLLM takes ~30 s to start).
async fn ready(client: &Clients, e: &Endpoint) -> Result<(), BoxError> {
    let target = e.target(false)?;
    let until = Instant::now() + Duration::from_secs(180);
    let run = RateRun {
        rps: 10.0,
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(5),
        max_in_flight: 16,
    };
    loop {
        let r = rate::run(client, &target, run).await?;
        if r.ok > 0 && r.errors.total() == 0 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!("{} never answered (errors {:?})", e.label, r.errors).into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Measures `targets` at `rps` for `duration` each, cut into `rounds` slices taken in
/// turn (direct, devassist, … then the next round in rotated order), and merges each
/// target's slices. Whatever the shared machine does during the phase (a compiler starting,
/// a cache going cold) then falls on every target alike, and the figures subtracted to get
/// "added" come from the same minutes. Each slice's own percentiles are kept too, so the
/// report can show how much the added figures move from one round to the next.
pub(crate) async fn interleaved(
    client: &Clients,
    targets: &[&Endpoint],
    rps: f64,
    duration: Duration,
    rounds: u32,
    warmup: Duration,
    watch: &[u32],
) -> Result<Vec<RatePoint>, BoxError> {
    settle(watch).await;
    let run = |duration, warmup| RateRun {
        rps,
        duration,
        warmup,
        timeout: TIMEOUT,
        max_in_flight: 4096,
    };
    // Every target once at the measured rate first: connections open, caches warm.
    for e in targets {
        rate::record(client, &e.target(false)?, run(warmup, Duration::ZERO)).await?;
    }
    let rounds = rounds.max(1);
    let slice = duration / rounds;
    let mut merged = Vec::with_capacity(targets.len());
    for _ in targets {
        merged.push((Recorded::empty()?, None::<Usage>, Vec::new()));
    }
    for round in 0..rounds as usize {
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let e = targets[i];
            let monitor = Monitor::start(e.pid);
            let recorded =
                rate::record(client, &e.target(false)?, run(slice, SLICE_WARMUP)).await?;
            let usage = e.pid.map(|_| monitor.finish());
            let r = recorded.result(rps);
            eprintln!(
                "    round {} {:<17} p50 {:>8.1} µs p99 {:>9.1} µs from due; p50 {:>8.1} µs p99 {:>9.1} µs from send",
                round + 1,
                e.label,
                r.latency.p50_us,
                r.latency.p99_us,
                r.service.p50_us,
                r.service.p99_us
            );
            let (all, used, per_round) = &mut merged[i];
            all.merge(&recorded)?;
            *used = match (*used, usage) {
                (Some(a), Some(b)) => Some(a.merge(&b)),
                (a, b) => a.or(b),
            };
            per_round.push(Round {
                round: round as u32 + 1,
                latency: r.latency,
                service: r.service,
                lag: r.lag,
            });
        }
    }
    let mut points = Vec::with_capacity(targets.len());
    for (e, (all, usage, rounds)) in targets.iter().zip(merged) {
        let result = all.result(rps);
        log_rate(e.label, &result, usage.as_ref());
        points.push(RatePoint {
            target: e.label.to_owned(),
            result,
            usage,
            rounds,
        });
    }
    Ok(points)
}

async fn measure_rate(
    client: &Clients,
    e: &Endpoint,
    run: RateRun,
    watch: &[u32],
) -> Result<RatePoint, BoxError> {
    settle(watch).await;
    let target = e.target(false)?;
    let monitor = Monitor::start(e.pid);
    let result = rate::run(client, &target, run).await?;
    let usage = e.pid.map(|_| monitor.finish());
    log_rate(e.label, &result, usage.as_ref());
    Ok(RatePoint {
        target: e.label.to_owned(),
        result,
        usage,
        rounds: Vec::new(),
    })
}

async fn measure_streams(
    client: &Client,
    e: &Endpoint,
    run: StreamRun,
    watch: &[u32],
) -> Result<StreamPoint, BoxError> {
    settle(watch).await;
    let target = e.target(true)?;
    let monitor = Monitor::start(e.pid);
    let result: StreamResult = streams::run(client, &target, run).await?;
    let usage = e.pid.map(|_| monitor.finish());
    eprintln!(
        "  {:<17} streams c={:<5} ok {:>6} failed {:>5}  first chunk p50 {:>9.1} µs p99 {:>9.1} µs  gap p50 {:>7.2} ms p99 {:>7.2} ms  stalls {}{}",
        e.label,
        run.concurrency,
        result.streams_ok,
        result.streams_failed,
        result.first_chunk.p50_us,
        result.first_chunk.p99_us,
        result.gap.p50_us / 1000.0,
        result.gap.p99_us / 1000.0,
        result.stalls,
        usage_note(usage.as_ref()),
    );
    Ok(StreamPoint {
        target: e.label.to_owned(),
        result,
        usage,
    })
}

/// Doubles the rate until a run fails (≥ 1 % errors), then bisects between the last pass
/// and the first failure three times.
async fn search(
    client: &Clients,
    e: &Endpoint,
    t: &Timing,
    watch: &[u32],
) -> Result<Search, BoxError> {
    let mut steps = Vec::new();
    let step = |rps| RateRun {
        rps,
        duration: t.step,
        warmup: t.warmup.min(Duration::from_secs(1)),
        timeout: TIMEOUT,
        max_in_flight: 4096,
    };
    let passes = |p: &RatePoint| p.result.error_rate < 0.01;
    let (mut lo, mut hi) = (0.0, None);
    let mut rps = SEARCH_START;
    while rps <= SEARCH_CAP {
        let point = measure_rate(client, e, step(rps), watch).await?;
        let ok = passes(&point);
        steps.push(point);
        if !ok {
            hi = Some(rps);
            break;
        }
        lo = rps;
        rps *= 2.0;
    }
    if let Some(mut hi) = hi {
        for _ in 0..3 {
            let mid = ((lo + hi) / 2.0 / 50.0).round() * 50.0;
            if mid <= lo || mid >= hi {
                break;
            }
            let point = measure_rate(client, e, step(mid), watch).await?;
            if passes(&point) {
                lo = mid
            } else {
                hi = mid
            }
            steps.push(point);
        }
    }
    eprintln!("  {:<17} highest rate with < 1% errors: {lo} RPS", e.label);
    Ok(Search {
        target: e.label.to_owned(),
        max_ok_rps: lo,
        steps,
    })
}

/// Lets the previous phase's backlog drain before the next: waits (at most 30 s) until the
/// mock and every gateway together use under a fifth of a core, so a gateway still working
/// through abandoned requests does not steal CPU from the next target's measurement.
async fn settle(watch: &[u32]) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let before = cpu_seconds(watch);
        tokio::time::sleep(Duration::from_millis(500)).await;
        if cpu_seconds(watch) - before < 0.1 {
            return;
        }
    }
    eprintln!("bench-gateway: the gateways did not go idle within 30 s; measuring anyway");
}

fn usage_note(usage: Option<&Usage>) -> String {
    usage.map_or_else(String::new, |u| {
        format!(
            "  gateway {:.2} cores, RSS max {:.1} MiB",
            u.cores, u.max_rss_mib
        )
    })
}

fn log_rate(label: &str, r: &RateResult, usage: Option<&Usage>) {
    eprintln!(
        "  {label:<17} {:>7.0} RPS  ok {:>7} err {:>5} ({:.2}%)  p50 {:>8.1} µs p90 {:>8.1} µs p99 {:>9.1} µs  lag p99 {:>6.1} µs{}",
        r.target_rps,
        r.ok,
        r.errors.total(),
        r.error_rate * 100.0,
        r.latency.p50_us,
        r.latency.p90_us,
        r.latency.p99_us,
        r.lag.p99_us,
        usage_note(usage),
    );
}
