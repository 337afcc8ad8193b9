//! The restoring stream layer: placeholders split across chunks at every possible point.

use super::*;
use devassist_core::{Event, EventStream, FinishReason, GatewayError, ToolCall, Usage};
use futures::StreamExt;
use std::sync::Arc;

fn token() -> String {
    format!("ghp_{}", "Q7w8".repeat(9))
}

/// A vault that redacted a GitHub token and a password, and the placeholders it made.
fn vault() -> (Arc<Vault>, String, String) {
    let mut vault = Vault::new();
    let mut text = format!("{} password = \"pa55-word\"", token());
    assert_eq!(vault.redact(&DETECTOR, &mut text), 2);
    (
        Arc::new(vault),
        "<SECRET_GITHUB_TOKEN_1>".into(),
        "<SECRET_PASSWORD_1>".into(),
    )
}

fn done() -> Result<Event, GatewayError> {
    Ok(Event::done(FinishReason::Stop, Usage::default()))
}

async fn collect(stream: EventStream) -> Vec<Result<Event, GatewayError>> {
    stream.collect().await
}

fn text_of(events: &[Result<Event, GatewayError>]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(Event::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// Char boundaries of `s`, ends included.
fn cuts(s: &str) -> Vec<usize> {
    (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect()
}

#[tokio::test]
async fn placeholders_split_at_every_pair_of_points_come_back_whole() {
    let (vault, gh, pw) = vault();
    // A near miss (`<SECRET_` that is no placeholder), a non-ASCII character and a `<` at
    // the very end, which must be flushed as it is.
    let answer = format!("Use {gh} as the token — not <SECRET_X>; password {pw}.<");
    let expected = format!(
        "Use {} as the token — not <SECRET_X>; password pa55-word.<",
        token()
    );
    let points = cuts(&answer);
    for (n, &i) in points.iter().enumerate() {
        for &j in &points[n..] {
            let chunks = [&answer[..i], &answer[i..j], &answer[j..]];
            let events: Vec<_> = chunks
                .iter()
                .map(|c| Ok(Event::Text((*c).to_owned())))
                .chain([done()])
                .collect();
            let out = collect(restore(
                futures::stream::iter(events).boxed(),
                vault.clone(),
            ))
            .await;
            assert_eq!(text_of(&out), expected, "cut at {i} and {j}");
            assert!(
                matches!(out.last(), Some(Ok(Event::Done { .. }))),
                "done stays last"
            );
            // Nothing that was held is sent after the end, and no secret text is split
            // into a placeholder-looking piece.
            for e in &out {
                if let Ok(Event::Text(t)) = e {
                    assert!(!t.contains("<SECRET_GITHUB"), "cut at {i} and {j}: {t:?}");
                }
            }
        }
    }
}

#[tokio::test]
async fn one_character_chunks_and_a_stream_without_placeholders_pass_through() {
    let (vault, gh, _) = vault();
    let answer = format!("a{gh}b");
    let events: Vec<_> = answer
        .chars()
        .map(|c| Ok(Event::Text(c.to_string())))
        .chain([done()])
        .collect();
    let out = collect(restore(
        futures::stream::iter(events).boxed(),
        vault.clone(),
    ))
    .await;
    assert_eq!(text_of(&out), format!("a{}b", token()));

    let plain = vec![
        Ok(Event::Text(String::new())),
        Ok(Event::Text("x < y".into())),
        done(),
    ];
    let out = collect(restore(futures::stream::iter(plain.clone()).boxed(), vault)).await;
    assert_eq!(format!("{out:?}"), format!("{plain:?}"));
}

#[tokio::test]
async fn reasoning_tool_calls_and_errors_are_restored_and_flush_what_is_held() {
    let (vault, gh, pw) = vault();
    let (gh_head, gh_tail) = gh.split_at(9);
    let events = vec![
        Ok(Event::Reasoning(format!("I see {gh_head}"))),
        Ok(Event::Reasoning(format!("{gh_tail}."))),
        Ok(Event::Text("<SECRET_PASS".into())),
        Ok(Event::ToolCall(ToolCall {
            id: "1".into(),
            name: "login".into(),
            arguments: serde_json::json!({"password": pw, "nested": [gh]}),
        })),
        Ok(Event::Text("tail <SEC".into())),
        Err(GatewayError::backend_error("upstream died")),
    ];
    let out = collect(restore(futures::stream::iter(events).boxed(), vault)).await;
    let shown: Vec<String> = out
        .iter()
        .map(|e| match e {
            Ok(Event::Reasoning(t)) => format!("reasoning:{t}"),
            Ok(Event::Text(t)) => format!("text:{t}"),
            Ok(Event::ToolCall(c)) => format!("call:{}", c.arguments),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("error:{e}"),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "reasoning:I see ".to_owned(),
            format!("reasoning:{}.", token()),
            "text:<SECRET_PASS".to_owned(),
            format!(
                "call:{}",
                serde_json::json!({"password": "pa55-word", "nested": [token()]})
            ),
            "text:tail ".to_owned(),
            "text:<SEC".to_owned(),
            "error:upstream died".to_owned(),
        ]
    );
}
