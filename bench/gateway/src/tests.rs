//! The harness against the real mock over real sockets: if these figures are wrong, every
//! figure the benchmark prints is wrong.

use crate::BoxError;
use crate::load::rate::{self, RateRun};
use crate::load::streams::{self, StreamRun};
use crate::load::{Target, client};
use crate::mock::{self, MockSettings};
use crate::plan::endpoint_target;
use crate::procstat;
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
    let r = rate::run(&client(), &target, rate_run(200.0, 1.0)).await?;
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
    let r = rate::run(&client(), &target, rate_run(100.0, 0.5)).await?;
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.bad_body, 50, "{r:?}");
    assert!((r.error_rate - 1.0).abs() < f64::EPSILON);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_all_transport_errors() -> Result<(), BoxError> {
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let target = endpoint_target(&format!("http://127.0.0.1:{port}"), false, None, false)?;
    let r = rate::run(&client(), &target, rate_run(50.0, 0.4)).await?;
    assert_eq!(r.ok, 0);
    assert_eq!(r.errors.transport, 20, "{r:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_is_a_status_error() -> Result<(), BoxError> {
    let base = start_mock(4, Duration::from_millis(5)).await?;
    // The mock speaks OpenAI only, so the Ollama path gets 404.
    let target = endpoint_target(&base, true, None, false)?;
    let r = rate::run(&client(), &target, rate_run(50.0, 0.4)).await?;
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
