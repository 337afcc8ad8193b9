//! The expanded-log writer and its records.

use super::*;
use crate::telemetry::{Labels, Telemetry};
use devassist_core::{Exchange, Feature, ToolCall, Usage};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn telemetry() -> Arc<Telemetry> {
    Arc::new(Telemetry::new(Labels::new(["m"], ["b"]), true))
}

fn entry(text: &str) -> ExpandedEntry {
    ExpandedEntry {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        request_id: Arc::from("req-1"),
        surface: "openai",
        feature: Some(Feature::Chat),
        model: Some(Arc::from("m")),
        backend: Some(Arc::from("b")),
        exchange: Exchange {
            caller: Some("dak_1".into()),
            request: Some(serde_json::json!({"messages": [{"role": "user", "content": text}]})),
            text: format!("echo: {text}"),
            reasoning: String::new(),
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: serde_json::json!({"x": text}),
            }],
            error: None,
        },
        usage: Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
        }),
        status: 200,
        duration: Duration::from_millis(5),
    }
}

#[test]
fn a_record_has_every_field_and_one_placeholder_per_secret() {
    let secret = format!("glpat-{}", "Ab12".repeat(6));
    let line = entry(&format!("my token is {secret}")).to_json();
    let shown = line.to_string();
    assert!(!shown.contains(&secret), "{shown}");
    assert_eq!(line["time"], "2023-11-14T22:13:20.000Z");
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["caller"], "dak_1");
    assert_eq!(line["surface"], "openai");
    assert_eq!(line["feature"], "chat");
    assert_eq!(line["model"], "m");
    assert_eq!(line["backend"], "b");
    assert_eq!(line["status"], 200);
    assert_eq!(line["usage"]["completion_tokens"], 4);
    assert_eq!(
        line["request"]["messages"][0]["content"],
        "my token is <SECRET_GITLAB_TOKEN_1>"
    );
    assert_eq!(
        line["response"]["text"],
        "echo: my token is <SECRET_GITLAB_TOKEN_1>"
    );
    assert_eq!(
        line["response"]["tool_calls"][0]["arguments"]["x"],
        "my token is <SECRET_GITLAB_TOKEN_1>"
    );
    assert_eq!(line["secrets_redacted"], 3);
}

#[tokio::test]
async fn the_writer_appends_lines_and_writes_what_is_queued_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/expanded.jsonl");
    let settings = crate::config::logging::ExpandedLogSettings {
        mode: crate::config::logging::ExpandedMode::All,
        file: path.clone(),
    };
    let t = telemetry();
    let writer = ExpandedWriter::start(&settings, t.clone()).unwrap();
    let sink = t.expanded().unwrap();
    for i in 0..3 {
        sink.record(entry(&format!("hello {i}")), &t.metrics);
    }
    writer.shutdown(Duration::from_secs(5)).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["response"]["text"], "echo: hello 2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the prompts");
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let t = telemetry();
    let (sink, _rx) = channel(Default::default(), 1);
    sink.record(entry("a"), &t.metrics);
    sink.record(entry("b"), &t.metrics);
    sink.record(entry("c"), &t.metrics);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, t.metrics.registry()).unwrap();
    assert!(
        text.contains("devassist_expanded_log_records_dropped_total 2"),
        "{text}"
    );
}
