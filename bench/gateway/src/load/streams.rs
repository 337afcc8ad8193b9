//! Fixed concurrency for streamed answers: `concurrency` workers each open a stream, read
//! it to the end and open the next, for the run's duration.
//!
//! Workers start spread over `ramp` so the streams' chunks do not all fall on the same
//! instants, and each worker's first stream (which also pays for its TCP connection) is
//! not counted. Reported: time to the first body chunk, the gaps between chunks as the
//! client sees them, and stalls (gaps over ten times the upstream's pace).

use super::{Client, Summary, Target, contains, histogram, record};
use crate::BoxError;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct StreamRun {
    pub concurrency: usize,
    /// Workers start spread over this long; streams opened before it ends are not counted.
    pub ramp: Duration,
    /// Measured time after the ramp; no stream starts after it.
    pub duration: Duration,
    /// A stream not finished this long after it was opened fails.
    pub timeout: Duration,
    /// A gap between two chunks longer than this is a stall.
    pub stall: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamResult {
    pub concurrency: usize,
    pub streams_ok: u64,
    pub streams_failed: u64,
    /// Request sent → first body chunk.
    pub first_chunk: Summary,
    /// Between consecutive body chunks.
    pub gap: Summary,
    pub stalls: u64,
    /// Request sent → end of stream.
    pub whole: Summary,
    pub chunks_per_stream: f64,
}

/// What one stream showed the client.
#[derive(Default)]
struct Observed {
    ok: bool,
    first: Option<Duration>,
    gaps: Vec<Duration>,
    whole: Duration,
}

pub async fn run(
    client: &Client,
    target: &Target,
    run: StreamRun,
) -> Result<StreamResult, BoxError> {
    let t0 = Instant::now();
    let measure_from = t0 + run.ramp;
    let stop_at = measure_from + run.duration;
    // One collector owns the histograms; workers only send what they saw.
    let (tx, mut rx) = mpsc::unbounded_channel::<Observed>();
    for w in 0..run.concurrency {
        let offset = run.ramp.mul_f64(w as f64 / run.concurrency.max(1) as f64);
        let (client, target, tx) = (client.clone(), target.clone(), tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(t0 + offset).await;
            worker(&client, &target, run, measure_from, stop_at, &tx).await;
        });
    }
    drop(tx);
    let (mut first, mut gap, mut whole) = (histogram()?, histogram()?, histogram()?);
    let (mut ok, mut failed, mut chunks, mut stalls) = (0u64, 0u64, 0u64, 0u64);
    while let Some(seen) = rx.recv().await {
        if !seen.ok {
            failed += 1;
            continue;
        }
        ok += 1;
        record(&mut whole, seen.whole);
        if let Some(d) = seen.first {
            record(&mut first, d);
            chunks += 1;
        }
        for g in &seen.gaps {
            record(&mut gap, *g);
            stalls += u64::from(*g > run.stall);
        }
        chunks += seen.gaps.len() as u64;
    }
    Ok(StreamResult {
        concurrency: run.concurrency,
        streams_ok: ok,
        streams_failed: failed,
        first_chunk: Summary::of(&first),
        gap: Summary::of(&gap),
        stalls,
        whole: Summary::of(&whole),
        chunks_per_stream: if ok == 0 {
            0.0
        } else {
            chunks as f64 / ok as f64
        },
    })
}

async fn worker(
    client: &Client,
    target: &Target,
    run: StreamRun,
    measure_from: Instant,
    stop_at: Instant,
    tx: &mpsc::UnboundedSender<Observed>,
) {
    loop {
        let started = Instant::now();
        if started >= stop_at {
            return;
        }
        let mut seen = Observed::default();
        let finished = tokio::time::timeout(run.timeout, stream(client, target, &mut seen)).await;
        seen.ok = matches!(finished, Ok(true));
        seen.whole = started.elapsed();
        let failed = !seen.ok;
        if started >= measure_from && tx.send(seen).is_err() {
            return;
        }
        if failed {
            // A dead target must not be hammered in a tight loop.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Reads one stream to its end; true when it ended with the expected marker.
async fn stream(client: &Client, target: &Target, seen: &mut Observed) -> bool {
    let Ok(request) = target.request() else {
        return false;
    };
    let sent = Instant::now();
    let Ok(response) = client.request(request).await else {
        return false;
    };
    if !response.status().is_success() {
        let _ = response.into_body().collect().await;
        return false;
    }
    let mut body = response.into_body();
    let mut last: Option<Instant> = None;
    // The end marker may straddle two chunks; keep the last bytes seen.
    let mut tail: Vec<u8> = Vec::with_capacity(1024);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return false;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let now = Instant::now();
        match last {
            None => seen.first = Some(now - sent),
            Some(prev) => seen.gaps.push(now - prev),
        }
        last = Some(now);
        tail.extend_from_slice(&data);
        if tail.len() > 512 {
            tail.drain(..tail.len() - 512);
        }
    }
    contains(&tail, target.expect)
}
