//! API keys through the admin API and the store, per-key models and features, limits (429
//! with `Retry-After`, places held by streams, tokens from the answer's usage), and what
//! `/status` shows to whom; on the app in memory (helpers in `tests.rs`).

use super::store::KeySpec;
use super::tests::{Gw, json_body};
use axum::http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};

fn generate(model: &str) -> Value {
    json!({"model": model, "prompt": "one two three four five six", "stream": false})
}

#[tokio::test]
async fn key_lifecycle_through_the_admin_api() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let root = gw
        .key(KeySpec {
            name: "root".into(),
            admin: true,
            ..KeySpec::default()
        })
        .await;
    let r = gw
        .call(
            Method::POST,
            "/admin/keys",
            Some(&root),
            Some(json!({"name": "ci", "models": ["echo"], "rpm": 100, "budget_period": "30d", "token_budget": 1000})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = json_body(r).await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&id));
    assert_eq!(created["budget_period_s"], 30 * 86_400);

    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 200);

    let list = json_body(gw.call(Method::GET, "/admin/keys", Some(&root), None).await).await;
    let text = list.to_string();
    assert!(
        text.contains(&id) && !text.contains(&key[id.len() + 1..]),
        "no secrets in lists"
    );

    let rotated = json_body(
        gw.call(
            Method::POST,
            &format!("/admin/keys/{id}/rotate"),
            Some(&root),
            None,
        )
        .await,
    )
    .await;
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 401, "the old secret stopped");
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&new_key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 200);

    let r = gw
        .call(
            Method::DELETE,
            &format!("/admin/keys/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&new_key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 401);
    let body = json_body(r).await;
    assert!(
        body["error"].as_str().unwrap().contains("revoked"),
        "{body}"
    );

    let r = gw
        .call(
            Method::POST,
            "/admin/keys",
            Some(&root),
            Some(json!({"name": "x", "features": ["talk"]})),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(json_body(r).await.to_string().contains("unknown feature"));
}

#[tokio::test]
async fn models_and_features_per_key() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "echo-only".into(),
            models: Some(vec!["echo".into()]),
            features: Some(vec![devassist_core::Feature::CodeCompletion]),
            ..KeySpec::default()
        })
        .await;
    let ok = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let alias = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("e:1")),
        )
        .await;
    assert_eq!(alias.status(), 200, "an alias of an allowed model");
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("other")),
        )
        .await;
    assert_eq!(r.status(), 403);
    let body = json_body(r).await;
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("may not use model `other`") && msg.contains("echo"),
        "{msg}"
    );

    let chat = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .call(Method::POST, "/v1/chat/completions", Some(&key), Some(chat))
        .await;
    assert_eq!(r.status(), 403);
    let body = json_body(r).await;
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat feature"),
        "{body}"
    );

    let r = gw
        .call(
            Method::POST,
            "/v1/search/docs",
            Some(&key),
            Some(json!({"query": "x"})),
        )
        .await;
    assert_eq!(r.status(), 403, "docs search is a feature too");
}

/// The model lists show a key only the models it may use, and describing another model is
/// refused like using it, in every surface's shape.
#[tokio::test]
async fn model_lists_show_a_key_only_its_models() {
    use tower::ServiceExt as _;
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "echo-only".into(),
            models: Some(vec!["e:1".into()]),
            ..KeySpec::default()
        })
        .await;
    let admin = gw
        .key(KeySpec {
            name: "ops".into(),
            admin: true,
            ..KeySpec::default()
        })
        .await;
    let names = |v: &Value, list: &str, field: &str| -> Vec<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[field].as_str().unwrap().to_owned())
            .collect()
    };
    let tags = json_body(gw.call(Method::GET, "/api/tags", Some(&key), None).await).await;
    assert_eq!(names(&tags, "models", "name"), ["echo"], "{tags}");
    let all = json_body(gw.call(Method::GET, "/api/tags", Some(&admin), None).await).await;
    assert_eq!(names(&all, "models", "name"), ["echo", "other", "drip"]);
    let openai = json_body(gw.call(Method::GET, "/v1/models", Some(&key), None).await).await;
    assert_eq!(names(&openai, "data", "id"), ["echo"], "{openai}");

    let r = gw
        .call(Method::GET, "/v1/models/other", Some(&key), None)
        .await;
    assert_eq!(r.status(), 403);
    let body = json_body(r).await;
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    let r = gw
        .call(Method::GET, "/v1/models/echo", Some(&key), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = gw
        .call(
            Method::POST,
            "/api/show",
            Some(&key),
            Some(json!({"model": "other"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        json_body(r).await["error"]
            .as_str()
            .unwrap()
            .contains("may not use model `other`")
    );

    let anthropic = |path: &str| {
        axum::http::Request::get(path)
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let r = gw
        .app
        .clone()
        .oneshot(anthropic("/v1/models"))
        .await
        .unwrap();
    let list = json_body(r).await;
    assert_eq!(names(&list, "data", "id"), ["echo"], "{list}");
    let r = gw
        .app
        .clone()
        .oneshot(anthropic("/v1/models/drip"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json_body(r).await["error"]["type"], "permission_error");
}

#[tokio::test]
async fn limits_answer_429_with_retry_after_in_the_dialect() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "tight".into(),
            rpm: Some(2),
            ..KeySpec::default()
        })
        .await;
    for _ in 0..2 {
        let r = gw
            .call(
                Method::POST,
                "/api/generate",
                Some(&key),
                Some(generate("echo")),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");
    let body = json_body(r).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute"),
        "{body}"
    );
    let chat = json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .call(Method::POST, "/v1/chat/completions", Some(&key), Some(chat))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(json_body(r).await["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_streaming_answer_holds_its_place_until_it_ends() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "one-at-a-time".into(),
            max_parallel: Some(1),
            ..KeySpec::default()
        })
        .await;
    let stream = json!({"model": "drip", "prompt": "x", "stream": true});
    let first = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(stream.clone()),
        )
        .await;
    assert_eq!(first.status(), 200);
    let second = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(stream.clone()),
        )
        .await;
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    // Reading the first answer to its end gives the place back.
    first.into_body().collect().await.unwrap();
    let third = gw
        .call(Method::POST, "/api/generate", Some(&key), Some(stream))
        .await;
    assert_eq!(third.status(), 200);
}

#[tokio::test]
async fn tokens_are_counted_from_the_answers_usage() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "budget".into(),
            token_budget: Some(5),
            budget_period_s: Some(3600),
            ..KeySpec::default()
        })
        .await;
    // The mock's answer uses more than 5 tokens (prompt + completion): the first passes,
    // the next is over budget.
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body = json_body(r).await;
    let used = body["prompt_eval_count"].as_u64().unwrap() + body["eval_count"].as_u64().unwrap();
    assert!(used > 5, "{body}");
    let r = gw
        .call(
            Method::POST,
            "/api/generate",
            Some(&key),
            Some(generate("echo")),
        )
        .await;
    assert_eq!(r.status(), 429);
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&after), "{after}");
}

#[tokio::test]
async fn status_hides_details_from_non_admins() {
    let gw = Gw::new("[auth]\nallow_anonymous = true");
    gw.call(Method::POST, "/api/generate", None, Some(generate("echo")))
        .await;
    let body = json_body(gw.call(Method::GET, "/status", None, None).await).await;
    let mock = &body["backends"][0];
    assert!(
        mock.get("backend").is_none(),
        "no prompts of others: {mock}"
    );
    let local = Gw::new("");
    local
        .call(Method::POST, "/api/generate", None, Some(generate("echo")))
        .await;
    let body = json_body(local.call(Method::GET, "/status", None, None).await).await;
    assert!(
        body["backends"][0]["backend"]["last_request"].is_object(),
        "{body}"
    );
}
