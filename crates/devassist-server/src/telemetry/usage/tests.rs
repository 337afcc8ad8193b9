//! The writer on tokio's paused clock against a real SQLite file: batches wait for the
//! flush interval or a full batch, shutdown writes what is left, a full queue drops and
//! counts, old records are pruned at start and every hour.

use super::*;
use crate::telemetry::{Labels, Telemetry};
use std::path::PathBuf;
use tokio::time::Instant;

fn telemetry() -> Arc<Telemetry> {
    Arc::new(Telemetry::new(Labels::new(["m"], ["b"]), true))
}

fn record(i: u32, at: SystemTime) -> UsageRecord {
    UsageRecord {
        at,
        request_id: Arc::from(format!("req-{i}")),
        key: Some(Arc::from("key-1")),
        user: None,
        surface: "openai",
        feature: Some(Feature::Chat),
        model: Some(Arc::from("m")),
        backend: Some(Arc::from("b")),
        prompt_tokens: Some(i),
        completion_tokens: Some(2 * i),
        ttft: Some(Duration::from_millis(20)),
        duration: Duration::from_millis(50),
        status: 200,
        cancelled: false,
    }
}

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("usage.sqlite3");
    Db { _dir: dir, path }
}

fn config(batch: usize, flush_every: Duration) -> WriterConfig {
    WriterConfig {
        capacity: 1000,
        batch,
        flush_every,
        prune_every: Duration::from_secs(3600),
        retention: Duration::from_secs(90 * 86_400),
    }
}

fn rows(db: &Db) -> u64 {
    Store::open_read_only(&db.path).unwrap().count().unwrap()
}

fn metrics_text(t: &Telemetry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, t.metrics.registry()).unwrap();
    out
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_waits_for_the_flush_interval() {
    let db = db();
    let t = telemetry();
    let start = Instant::now();
    let writer = UsageWriter::start(
        Store::open(&db.path).unwrap(),
        config(100, Duration::from_secs(1)),
        t.clone(),
    );
    let sink = t.usage().unwrap();
    for i in 0..3 {
        sink.record(record(i, SystemTime::now()), &t.metrics);
    }
    let mut progress = writer.progress();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(progress.borrow().written, 0, "not before the interval");
    assert_eq!(rows(&db), 0);
    assert_eq!(
        sink.queued(),
        3,
        "a record short of a batch does not wake the writer"
    );
    progress.wait_for(|p| p.written == 3).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(rows(&db), 3);
    assert!(metrics_text(&t).contains("devassist_usage_records_written_total 3"));
    writer.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_written_at_once() {
    let db = db();
    let t = telemetry();
    let start = Instant::now();
    let writer = UsageWriter::start(
        Store::open(&db.path).unwrap(),
        config(10, Duration::from_secs(3600)),
        t.clone(),
    );
    let sink = t.usage().unwrap();
    for i in 0..25 {
        sink.record(record(i, SystemTime::now()), &t.metrics);
    }
    writer
        .progress()
        .wait_for(|p| p.written == 20)
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(3600),
        "two full batches, no waiting"
    );
    assert_eq!(rows(&db), 20, "the last 5 wait for the interval");
    writer.shutdown(Duration::from_secs(5)).await;
    assert_eq!(rows(&db), 25, "shutdown wrote the rest");
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_what_is_waiting_and_rows_keep_every_field() {
    let db = db();
    let t = telemetry();
    let writer = UsageWriter::start(
        Store::open(&db.path).unwrap(),
        config(100, Duration::from_secs(3600)),
        t.clone(),
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    let sink = t.usage().unwrap();
    sink.record(record(7, at), &t.metrics);
    let mut cancelled = record(8, at);
    cancelled.cancelled = true;
    cancelled.status = 499;
    cancelled.ttft = None;
    cancelled.prompt_tokens = None;
    cancelled.completion_tokens = None;
    sink.record(cancelled, &t.metrics);
    writer.shutdown(Duration::from_secs(5)).await;
    let mut got = Vec::new();
    Store::open_read_only(&db.path)
        .unwrap()
        .each_since(SystemTime::UNIX_EPOCH, |r| got.push(r))
        .unwrap();
    assert_eq!(got.len(), 2);
    let r = &got[0];
    assert_eq!(r.at_ms, 4_000_000_000_000);
    assert_eq!(r.request_id, "req-7");
    assert_eq!(r.key.as_deref(), Some("key-1"));
    assert_eq!(r.user, None);
    assert_eq!(
        (r.surface.as_str(), r.feature.as_deref()),
        ("openai", Some("chat"))
    );
    assert_eq!(
        (r.model.as_deref(), r.backend.as_deref()),
        (Some("m"), Some("b"))
    );
    assert_eq!((r.prompt_tokens, r.completion_tokens), (Some(7), Some(14)));
    assert_eq!((r.ttft_ms, r.duration_ms), (Some(20.0), 50.0));
    assert_eq!((r.status, r.cancelled), (200, false));
    let c = &got[1];
    assert_eq!((c.status, c.cancelled, c.ttft_ms), (499, true, None));
    assert_eq!(c.prompt_tokens, None);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_waiting() {
    let t = telemetry();
    let (sink, _rx) = channel(2);
    for i in 0..5 {
        sink.record(record(i, SystemTime::now()), &t.metrics);
    }
    assert!(
        metrics_text(&t).contains("devassist_usage_records_dropped_total 3"),
        "{}",
        metrics_text(&t)
    );
    drop(_rx);
    sink.record(record(9, SystemTime::now()), &t.metrics);
    assert!(metrics_text(&t).contains("devassist_usage_records_dropped_total 4"));
}

#[test]
fn pruning_deletes_records_older_than_the_cut() {
    let db = db();
    let mut store = Store::open(&db.path).unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    store
        .insert(&[
            record(1, now - 100 * day),
            record(2, now - 89 * day),
            record(3, now),
        ])
        .unwrap();
    assert_eq!(store.prune(now - 90 * day).unwrap(), 1);
    assert_eq!(store.count().unwrap(), 2);
    assert_eq!(store.prune(now - 90 * day).unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_writer_prunes_at_start_and_every_hour() {
    let db = db();
    let day = Duration::from_secs(86_400);
    let mut old = Store::open(&db.path).unwrap();
    old.insert(&[
        record(1, SystemTime::now() - 91 * day),
        record(2, SystemTime::now()),
    ])
    .unwrap();
    let t = telemetry();
    let writer = UsageWriter::start(
        Store::open(&db.path).unwrap(),
        config(100, Duration::from_secs(1)),
        t,
    );
    let mut progress = writer.progress();
    progress.wait_for(|p| p.prunes == 1).await.unwrap();
    assert_eq!(progress.borrow().pruned, 1);
    assert_eq!(rows(&db), 1);

    // Another gateway (or the clock) leaves an old record: the next hourly pass takes it.
    old.insert(&[record(3, SystemTime::now() - 95 * day)])
        .unwrap();
    let start = Instant::now();
    progress.wait_for(|p| p.prunes == 2).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(3599));
    assert_eq!(progress.borrow().pruned, 2);
    assert_eq!(rows(&db), 1);
    writer.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn a_newer_schema_is_refused() {
    let db = db();
    drop(Store::open(&db.path).unwrap());
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(&db.path),
        Err(StoreError::Newer(_, 99))
    ));
}
