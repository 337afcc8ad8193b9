//! The harness against the real mock over real sockets: if these figures are wrong, every
//! figure the benchmark prints is wrong.

use crate::BoxError;
use crate::load::Summary;
use crate::load::rate::{self, RateRun};
use crate::load::streams::{self, StreamRun};
use crate::load::{Clients, Target, client};
use crate::mock::{self, MockSettings};
use crate::plan::{Endpoint, endpoint_target, interleaved};
use crate::procstat;
use crate::report::{Machine, RatePoint, Report, Round};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

async fn start_mock(chunks: u32, interval: Duration) -> Result<String, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(mock::serve(listener, MockSettings { chunks, interval }));
    Ok(base)
}

fn rate_run(rps: f64, seconds: f64) -> RateRun {
    RateRun {
        rps,
        duration: Duration::from_secs_f64(seconds),
        warmup: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
        max_in_flight: 256,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_the_whole_timetable_and_counts_every_answer() -> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    let target = endpoint_target(&base, false, None, false)?;
    let r = rate::run(&Clients::new(1), &target, rate_run(200.0, 1.0)).await?;
    assert_eq!(r.sent, 200, "{r:?}");
    assert_eq!(r.ok, 200, "{r:?}");
    assert_eq!(r.errors.total(), 0);
    assert_eq!(r.latency.count, 200);
    // Loopback to a mock that answers at once: well under 50 ms, and never below the
    // time from actually sending.
    assert!(
        r.latency.p50_us > 0.0 && r.latency.p50_us < 50_000.0,
        "{r:?}"
    );
    assert!(r.latency.p99_us >= r.service.p50_us);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_the_expected_content_are_errors() -> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    let target = Target {
        expect: b"not in the mock's answer",
        ..endpoint_target(&base, false, None, false)?
    };
    let r = rate::run(&Clients::new(1), &target, rate_run(100.0, 0.5)).await?;
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.bad_body, 50, "{r:?}");
    assert!((r.error_rate - 1.0).abs() < f64::EPSILON);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_all_transport_errors() -> Result<(), BoxError> {
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let target = endpoint_target(&format!("http://127.0.0.1:{port}"), false, None, false)?;
    let r = rate::run(&Clients::new(1), &target, rate_run(50.0, 0.4)).await?;
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.transport, 20, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_is_a_status_error() -> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    // The mock speaks OpenAI only, so the Ollama path gets 404.
    let target = endpoint_target(&base, true, None, false)?;
    let r = rate::run(&Clients::new(1), &target, rate_run(50.0, 0.4)).await?;
    assert_eq!(r.errors.status, 20, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_arrive_chunk_by_chunk_at_the_mock_pace() -> Result<(), BoxError> {
    let base = start_mock(6, Duration::from_millis(15)).await?;
    let target = endpoint_target(&base, false, None, true)?;
    let run = StreamRun {
        concurrency: 4,
        ramp: Duration::from_millis(100),
        duration: Duration::from_millis(600),
        timeout: Duration::from_secs(5),
        stall: Duration::from_millis(150),
    };
    let r = streams::run(&client(), &target, run).await?;
    assert!(r.streams_ok >= 4, "{r:?}");
    assert_eq!(r.streams_failed, 0);
    assert!((r.chunks_per_stream - 6.0).abs() < f64::EPSILON, "{r:?}");
    // Five gaps of 15 ms per stream; the timer wheel rounds up to whole milliseconds.
    assert!(r.gap.p50_us > 12_000.0 && r.gap.p50_us < 30_000.0, "{r:?}");
    assert!(r.first_chunk.p50_us < 10_000.0, "{r:?}");
    assert!(r.whole.p50_us >= 75_000.0, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_its_end_marker_fails() -> Result<(), BoxError> {
    let base = start_mock(3, Duration::from_millis(5)).await?;
    let target = Target {
        expect: br#""done":true"#,
        ..endpoint_target(&base, false, None, true)?
    };
    let run = StreamRun {
        concurrency: 2,
        ramp: Duration::ZERO,
        duration: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        stall: Duration::from_millis(100),
    };
    let r = streams::run(&client(), &target, run).await?;
    assert_eq!(r.streams_ok, 0);
    assert!(r.streams_failed >= 2, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_slices_count_every_request_once() -> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    let target = endpoint_target(&base, false, None, false)?;
    let (c, run) = (Clients::new(4), rate_run(200.0, 0.5));
    let (a, b) = (
        rate::record(&c, &target, run).await?,
        rate::record(&c, &target, run).await?,
    );
    let (ra, rb) = (a.result(200.0), b.result(200.0));
    let mut all = rate::Recorded::empty()?;
    all.merge(&a)?;
    all.merge(&b)?;
    let r = all.result(200.0);
    assert_eq!((ra.ok, rb.ok), (100, 100), "{ra:?} {rb:?}");
    assert_eq!(r.ok, 200);
    assert_eq!(r.latency.count, 200);
    assert!((r.duration_s - 1.0).abs() < 1e-9, "{r:?}");
    assert!((r.achieved_rps - 200.0).abs() < 1e-6, "{r:?}");
    let (lo, hi) = (
        ra.service.p50_us.min(rb.service.p50_us),
        ra.service.p50_us.max(rb.service.p50_us),
    );
    assert!(r.service.p50_us >= lo && r.service.p50_us <= hi, "{r:?}");
    assert!((r.latency.max_us - ra.latency.max_us.max(rb.latency.max_us)).abs() < 1e-9);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_targets_get_one_slice_per_round_and_every_request_merged()
-> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    let endpoint = |label| Endpoint {
        label,
        interleave: true,
        base: base.clone(),
        pid: None,
        bearer: None,
        ollama: false,
        streams: true,
    };
    let (a, b) = (endpoint("direct"), endpoint("again"));
    let points = interleaved(
        &Clients::new(8),
        &[&a, &b],
        200.0,
        Duration::from_millis(900),
        3,
        Duration::from_millis(100),
        &[],
    )
    .await?;
    assert_eq!(points.len(), 2);
    for p in &points {
        assert_eq!(p.rounds.len(), 3, "{p:?}");
        assert_eq!(
            p.rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // 0.3 s slices at 200 RPS, the slice's own warm-up not counted.
        assert!(p.rounds.iter().all(|r| r.service.count == 60), "{p:?}");
        assert_eq!(p.result.ok, 180, "{p:?}");
        assert_eq!(p.result.errors.total(), 0);
    }
    Ok(())
}

/// The mock, recording the client port of every connection it accepts.
async fn start_counting_mock() -> Result<(String, Arc<Mutex<HashSet<u16>>>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let ports = seen.clone();
    let settings = MockSettings {
        chunks: 1,
        interval: Duration::from_millis(1),
    };
    tokio::spawn(async move {
        while let Ok((socket, peer)) = listener.accept().await {
            if let Ok(mut ports) = ports.lock() {
                ports.insert(peer.port());
            }
            tokio::spawn(mock::connection(socket, settings));
        }
    });
    Ok((base, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_load_spreads_over_the_given_connections() -> Result<(), BoxError> {
    let connections = |seen: &Arc<Mutex<HashSet<u16>>>| seen.lock().map_or(0, |s| s.len());
    let (base, seen) = start_counting_mock().await?;
    let target = endpoint_target(&base, false, None, false)?;
    let r = rate::run(&Clients::new(8), &target, rate_run(200.0, 0.5)).await?;
    assert_eq!(r.ok, 100, "{r:?}");
    assert!(
        connections(&seen) >= 8,
        "{} connections",
        connections(&seen)
    );

    // One client at the same rate settles on (nearly) one connection.
    let (base, seen) = start_counting_mock().await?;
    let target = endpoint_target(&base, false, None, false)?;
    let r = rate::run(&Clients::new(1), &target, rate_run(200.0, 0.5)).await?;
    assert_eq!(r.ok, 100, "{r:?}");
    assert!(connections(&seen) < 8, "{} connections", connections(&seen));
    Ok(())
}

fn summary(p50_us: f64, p99_us: f64) -> Summary {
    Summary {
        count: 1000,
        mean_us: p50_us,
        p50_us,
        p90_us: p50_us,
        p99_us,
        p999_us: p99_us,
        max_us: p99_us,
    }
}

/// A fixed-rate point whose latency from the due time is `service + lag`.
fn point(target: &str, service: (f64, f64), lag: (f64, f64)) -> RatePoint {
    let latency = summary(service.0 + lag.0, service.1 + lag.1);
    let (service, lag) = (summary(service.0, service.1), summary(lag.0, lag.1));
    RatePoint {
        target: target.to_owned(),
        result: rate::RateResult {
            target_rps: 1000.0,
            duration_s: 10.0,
            sent: 10_000,
            ok: 10_000,
            errors: rate::Errors::default(),
            error_rate: 0.0,
            achieved_rps: 1000.0,
            latency,
            service,
            lag,
        },
        usage: None,
        rounds: vec![Round {
            round: 1,
            latency,
            service,
            lag,
        }],
    }
}

/// The published run at 1,000 RPS: 13 µs through devassist from the send, but the load
/// generator dispatched 12 µs faster during devassist's phase, and "added" (then counted
/// from the due time) came out as +0.001 ms.
/// A report of a full run with these fixed-rate points and rate searches.
fn report(fixed: Vec<RatePoint>, search: Vec<crate::report::Search>) -> Report {
    Report {
        machine: Machine::describe(),
        started: String::new(),
        duration_s: 0.0,
        devassist_version: String::new(),
        git_commit: None,
        litellm_version: None,
        litellm_workers: 0,
        quick: false,
        realtime: false,
        latency_only: false,
        upstream: None,
        timeout_ms: 1000,
        stream_chunks: 0,
        stream_interval_ms: 0,
        fixed,
        streams: Vec::new(),
        soak: None,
        soak_s: 0.0,
        search,
        loadavg_end: None,
    }
}

#[test]
fn added_latency_leaves_out_the_load_generators_lag() {
    let report = report(
        vec![
            point("direct", (29.0, 64.0), (30.0, 50.0)),
            point("devassist", (42.0, 140.0), (17.0, 42.0)),
        ],
        Vec::new(),
    );
    let md = crate::markdown::render(&report);
    let row = md
        .lines()
        .find(|l| l.starts_with("| 1000 | devassist |"))
        .unwrap_or_default();
    assert!(
        row.contains("| +0.013 (+0.013 … +0.013) |"),
        "added p50 from send: {row}"
    );
    assert!(
        row.contains("| +0.076 (+0.076 … +0.076) |"),
        "added p99 from send: {row}"
    );
    assert!(!row.contains("+0.001"), "{row}");
}

/// The auth goals compare the auth variant with devassist without auth, not with direct.
#[test]
fn auth_goals_compare_with_the_gateway_without_auth() {
    use crate::report::Search;
    let search = |target: &str, max_ok_rps| Search {
        target: target.to_owned(),
        max_ok_rps,
        steps: Vec::new(),
    };
    let report = report(
        vec![
            point("direct", (29.0, 64.0), (30.0, 50.0)),
            point("devassist", (42.0, 140.0), (17.0, 42.0)),
            point("devassist-auth", (45.0, 170.0), (17.0, 42.0)),
            point("devassist-redis", (80.0, 260.0), (17.0, 42.0)),
        ],
        vec![
            search("devassist", 16_000.0),
            search("devassist-auth", 14_000.0),
        ],
    );
    let md = crate::markdown::render(&report);
    let row = |start: &str| {
        md.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_default()
            .to_owned()
    };
    let p99 = row("| API key + per-key limit (memory): p99");
    assert!(p99.contains("| +0.030 ms from send | yes |"), "{p99}");
    let rate = row("| API key + per-key limit (memory): highest rate");
    assert!(
        rate.contains("14000 vs 16000 RPS (88 %) | **no** |"),
        "{rate}"
    );
    let redis = row("| API key + per-key limit (Redis): p99 over no auth");
    assert!(
        redis.contains("+0.120 ms from send | (reported) |"),
        "{redis}"
    );
}

#[test]
fn proc_accounting_sees_this_process() {
    let me = std::process::id();
    let pids = procstat::tree(me);
    assert_eq!(pids.first(), Some(&me));
    assert!(procstat::status_mib(&pids, "VmRSS:") > 1.0);
    assert!(procstat::status_mib(&pids, "VmHWM:") >= procstat::status_mib(&[me], "VmRSS:") * 0.5);
    // Burn a little CPU so the counter must move.
    let until = std::time::Instant::now() + Duration::from_millis(60);
    let mut x = 0u64;
    while std::time::Instant::now() < until {
        x = x.wrapping_mul(31).wrapping_add(7);
    }
    assert!(x != 1);
    assert!(procstat::cpu_seconds(&[me]) > 0.0);
}
