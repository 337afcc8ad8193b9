//! GitLab's tokens through the whole app, against an instance served on 127.0.0.1
//! (`test_idp.rs`): what GitLab self-managed sends is accepted; every forgery and mismatch
//! is refused with GitLab's exact words; the JWKS is refetched for a new `kid` and no more
//! often than allowed; IDE tokens are minted, used, and kept to their two routes.

use super::jwt::gitlab::SIGNING_KID;
use super::test_idp::{Idp, Signer, fixture, fixture_ref, hmac_with_public_key, now, unsigned};
use super::tests::{Gw, gitlab_headers, json_body, refused};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

pub(super) const INSTANCE: &str = "5c4f2d5e-7a8b-4c1d-9e0f-1a2b3c4d5e6f";
const USER: &str = "777";

/// What GitLab self-managed puts in its token (reference §4.3).
pub(super) fn instance_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "jti": "3d1f0c9e-2b4a-4c8d-9e7f-6a5b4c3d2e1f",
        "aud": "gitlab-ai-gateway",
        "iss": issuer,
        "sub": INSTANCE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 3600,
        "gitlab_realm": "self-managed",
        "gitlab_instance_id": INSTANCE,
        "scopes": ["complete_code", "generate_code", "duo_chat", "documentation_search"],
    })
}

/// An IDE token as an AI gateway mints it.
pub(super) fn ide_claims(user: &str) -> Value {
    let now = now();
    json!({
        "iss": "gitlab-ai-gateway", "aud": "gitlab-ai-gateway", "sub": user,
        "iat": now, "nbf": now, "exp": now + 3600, "jti": "j",
        "gitlab_realm": "self-managed", "gitlab_instance_id": INSTANCE,
        "scopes": ["complete_code"],
    })
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A gateway taking GitLab tokens from a local instance whose key is `rsa_a` (`kid`
/// `gitlab-a`), signing IDE tokens with `rsa_c`.
struct Setup {
    gw: Gw,
    idp: Idp,
    key: Signer,
}

impl Setup {
    async fn new() -> Setup {
        Self::with_config("").await
    }

    async fn with_config(extra: &str) -> Setup {
        let key = Signer::rsa("rsa_a.pem", "gitlab-a");
        let idp = Idp::start(&[&key]).await;
        let gw = Gw::new(&format!(
            "[auth]\nmode = [\"gitlab\", \"api_keys\"]\n[auth.gitlab]\nurl = \"{}\"\n{extra}",
            idp.url
        ));
        // The start-up fetch, before any request; a request with a known key waits for it
        // to be in place.
        idp.wait_for_hits(1).await;
        let s = Setup { gw, idp, key };
        let bearer = format!("Bearer {}", s.token(json!({})));
        let r =
            s.gw.call_with(
                Method::GET,
                "/api/tags",
                &gitlab_headers(&bearer, USER),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        s
    }

    fn token(&self, changes: Value) -> String {
        self.key
            .sign(&with(instance_claims(&self.idp.url), changes))
    }

    async fn post(&self, path: &str, token: &str, headers: &[(&'static str, &str)]) -> Response {
        let bearer = format!("Bearer {token}");
        let mut all = gitlab_headers(&bearer, USER);
        for (name, value) in headers {
            all.retain(|(n, _)| n != name);
            if !value.is_empty() {
                all.push((name, value));
            }
        }
        self.gw
            .call_with(Method::POST, path, &all, Some(completion()))
            .await
    }
}

fn completion() -> Value {
    let text = fixture("../gitlab/v2_completion_self_hosted.json");
    serde_json::from_str(&text).unwrap()
}

/// The status, and the body GitLab's gateway would send.
async fn answer(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, json_body(r).await)
}

async fn assert_401(r: Response, text: &str) {
    assert_eq!(refused(&r), Some(StatusCode::UNAUTHORIZED), "{text}");
    assert_eq!(
        answer(r).await,
        (StatusCode::UNAUTHORIZED, json!({ "error": text }))
    );
}

#[tokio::test]
async fn a_self_managed_instance_token_is_accepted() {
    let s = Setup::new().await;
    let r = s
        .post("/v2/code/completions", &s.token(json!({})), &[])
        .await;
    let (status, body) = answer(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion", "{body}");
    // Within the leeway (30 s by default), an expired or early token still passes.
    let r = s
        .post(
            "/v2/code/completions",
            &s.token(json!({"exp": now() - 10, "nbf": now() + 10})),
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.idp.jwks_hits(), 1, "known keys are not fetched again");
}

#[tokio::test]
async fn requests_without_a_proper_token_get_gitlab_s_words() {
    let s = Setup::new().await;
    let r =
        s.gw.call_with(
            Method::POST,
            "/v2/code/completions",
            &[],
            Some(completion()),
        )
        .await;
    assert_401(r, "No authorization header presented").await;
    let r =
        s.gw.call_with(
            Method::POST,
            "/v2/code/completions",
            &[("authorization", "Basic dXNlcjpwYXNz")],
            None,
        )
        .await;
    assert_401(r, "Invalid authorization header").await;
    let token = s.token(json!({}));
    for kind in ["", "saml"] {
        let r = s
            .post(
                "/v2/code/completions",
                &token,
                &[("x-gitlab-authentication-type", kind)],
            )
            .await;
        assert_401(
            r,
            "Invalid authentication token type - only OIDC is supported",
        )
        .await;
    }
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_forbidden_by_the_provider() {
    let s = Setup::new().await;
    let claims = instance_claims(&s.idp.url);
    let attacker = Signer::rsa("rsa_c.pem", "gitlab-a");
    let cases = [
        ("alg none", unsigned(&claims)),
        (
            "HS256 with the public key as secret",
            hmac_with_public_key(&fixture("rsa_a.pub.pem"), "gitlab-a", &claims),
        ),
        (
            "another key under the instance's kid",
            attacker.sign(&claims),
        ),
        ("expired", s.token(json!({"exp": now() - 120}))),
        ("not yet valid", s.token(json!({"nbf": now() + 300}))),
        ("issued in the future", s.token(json!({"iat": now() + 300}))),
        ("no expiry", s.token(json!({"exp": null}))),
        ("wrong audience", s.token(json!({"aud": "someone-else"}))),
        ("not a JWT", "abc.def".to_owned()),
    ];
    for (what, token) in cases {
        let r = s.post("/v2/code/completions", &token, &[]).await;
        assert_eq!(refused(&r), Some(StatusCode::UNAUTHORIZED), "{what}");
        assert_eq!(
            answer(r).await.1,
            json!({"error": "Forbidden by auth provider"}),
            "{what}"
        );
    }
    // The same refusal in another surface's dialect on its route.
    let bearer = format!("Bearer {}", s.token(json!({"aud": "x"})));
    let r =
        s.gw.call_with(
            Method::POST,
            "/v1/chat/completions",
            &gitlab_headers(&bearer, USER),
            Some(json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    let (status, body) = answer(r).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert_eq!(body["error"]["message"], "Forbidden by auth provider");
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_and_then_refused() {
    let s = Setup::new().await;
    assert_eq!(s.idp.jwks_hits(), 1);
    let stranger = s.key.sign_as("gitlab-z", &instance_claims(&s.idp.url));
    let r = s.post("/v2/code/completions", &stranger, &[]).await;
    assert_401(r, "Forbidden by auth provider").await;
    assert_eq!(
        s.idp.jwks_hits(),
        2,
        "an unknown kid fetches the keys again"
    );
    for _ in 0..5 {
        let r = s.post("/v2/code/completions", &stranger, &[]).await;
        assert_401(r, "Forbidden by auth provider").await;
    }
    assert_eq!(
        s.idp.jwks_hits(),
        2,
        "no more than one refetch per jwks_refetch_interval (30 s)"
    );
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_a_refetch() {
    let s = Setup::new().await;
    let next = Signer::rsa("rsa_b.pem", "gitlab-b");
    let token = next.sign(&instance_claims(&s.idp.url));
    // Signed with a key the instance has not published yet: refused.
    let r = s.post("/v2/code/completions", &token, &[]).await;
    assert_401(r, "Forbidden by auth provider").await;
    assert_eq!(s.idp.jwks_hits(), 2);

    let fresh = Setup::new().await;
    fresh.idp.publish(&[&fresh.key, &next]);
    let token = next.sign(&instance_claims(&fresh.idp.url));
    let r = fresh.post("/v2/code/completions", &token, &[]).await;
    assert_eq!(r.status(), 200, "{:?}", answer(r).await);
    assert_eq!(fresh.idp.jwks_hits(), 2, "one refetch found the new key");
    let r = fresh
        .post("/v2/code/completions", &fresh.token(json!({})), &[])
        .await;
    assert_eq!(r.status(), 200, "the old key still works while published");
}

#[tokio::test]
async fn headers_must_match_the_claims() {
    let s = Setup::new().await;
    let token = s.token(json!({}));
    let r = s
        .post(
            "/v2/code/completions",
            &token,
            &[("x-gitlab-realm", "saas")],
        )
        .await;
    assert_401(r, "Header mismatch 'X-Gitlab-Realm'").await;
    let r = s
        .post(
            "/v2/code/completions",
            &token,
            &[("x-gitlab-instance-id", "")],
        )
        .await;
    assert_401(r, "Header mismatch 'X-Gitlab-Instance-Id'").await;
    // Without `gitlab_instance_id`, `sub` is the instance for the instance's own tokens.
    let token = s.token(json!({"gitlab_instance_id": null, "sub": "other-instance"}));
    let r = s.post("/v2/code/completions", &token, &[]).await;
    assert_401(r, "Header mismatch 'X-Gitlab-Instance-Id'").await;
    // An IDE token's `sub` is the user.
    let ide = Signer::rsa("rsa_c.pem", SIGNING_KID).sign(&ide_claims("999"));
    let g = Setup::with_config(&format!("signing_key = \"{}\"", fixture_ref("rsa_c.pem"))).await;
    let r = g.post("/v2/code/completions", &ide, &[]).await;
    assert_401(r, "Header mismatch 'X-Gitlab-Global-User-Id'").await;
    let r = g
        .post(
            "/v2/code/completions",
            &ide,
            &[("x-gitlab-global-user-id", "999")],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn each_route_needs_its_unit_primitive() {
    let s = Setup::new().await;
    let chat_only = s.token(json!({"scopes": ["duo_chat"]}));
    for (path, text) in [
        (
            "/v2/code/completions",
            "Unauthorized to access code completions",
        ),
        ("/v2/completions", "Unauthorized to access code completions"),
        (
            "/v2/code/generations",
            "Unauthorized to access code generations",
        ),
        (
            "/v3/code/completions",
            "Unauthorized to access code suggestions",
        ),
        (
            "/v1/search/gitlab-docs",
            "Unauthorized to search documentations",
        ),
        (
            "/v1/chat/explain_vulnerability",
            "Unauthorized to access explain_vulnerability",
        ),
    ] {
        let r = s.post(path, &chat_only, &[]).await;
        assert_eq!(refused(&r), Some(StatusCode::FORBIDDEN), "{path}");
        assert_eq!(
            answer(r).await,
            (StatusCode::FORBIDDEN, json!({ "detail": text }))
        );
    }
    let completion_only = s.token(json!({"scopes": ["complete_code"]}));
    let r = s.post("/v2/chat/agent", &completion_only, &[]).await;
    assert_eq!(
        answer(r).await.1,
        json!({"detail": "Unauthorized to access duo chat"})
    );
    // Attached context needs its own primitive.
    let bearer = format!("Bearer {chat_only}");
    let r =
        s.gw.call_with(
            Method::POST,
            "/v2/chat/agent",
            &gitlab_headers(&bearer, USER),
            Some(json!({"messages": [{"role": "user", "content": "explain",
                "additional_context": [{"category": "file", "id": "a.py", "content": "x = 1"}]}]})),
        )
        .await;
    assert_eq!(
        answer(r).await,
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Unauthorized to access include_file_context"})
        )
    );
    // Elsewhere the scopes are features: chat only, in the guard's words and OpenAI's shape.
    let r =
        s.gw.call_with(
            Method::POST,
            "/v1/completions",
            &gitlab_headers(&bearer, USER),
            Some(json!({"model": "echo", "prompt": "def"})),
        )
        .await;
    let (status, body) = answer(r).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
}

#[tokio::test]
async fn ide_tokens_are_minted_and_kept_to_code_completions() {
    let s = Setup::with_config(&format!("signing_key = \"{}\"", fixture_ref("rsa_c.pem"))).await;
    let instance = s.token(json!({"duo_seat_count": "12"}));
    let r = s.post("/v1/code/user_access_token", &instance, &[]).await;
    let (status, body) = answer(r).await;
    assert_eq!(status, 200, "{body}");
    let ide = body["token"].as_str().unwrap().to_owned();
    let expires_at = body["expires_at"].as_u64().unwrap();
    assert!(
        (now() + 3590..=now() + 3600).contains(&expires_at),
        "{body}"
    );
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&ide).unwrap();
    assert_eq!(
        (
            &claims["iss"],
            &claims["aud"],
            &claims["sub"],
            &claims["scopes"]
        ),
        (
            &json!("gitlab-ai-gateway"),
            &json!("gitlab-ai-gateway"),
            &json!(USER),
            &json!(["complete_code"])
        )
    );
    assert_eq!(claims["gitlab_instance_id"], INSTANCE);
    assert_eq!(claims["duo_seat_count"], "12");

    for path in ["/v2/code/completions", "/v2/completions"] {
        let r = s.post(path, &ide, &[]).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = s.post("/v2/code/generations", &ide, &[]).await;
    assert_eq!(
        answer(r).await,
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Unauthorized to access code generations"})
        )
    );
    let r = s.post("/v1/code/user_access_token", &ide, &[]).await;
    assert_eq!(
        answer(r).await.1,
        json!({"detail": "Unauthorized to create user access token for code suggestions"})
    );
    let bearer = format!("Bearer {ide}");
    let r =
        s.gw.call_with(
            Method::POST,
            "/v1/completions",
            &gitlab_headers(&bearer, USER),
            Some(json!({"model": "echo", "prompt": "def"})),
        )
        .await;
    assert_eq!(refused(&r), Some(StatusCode::FORBIDDEN));
    assert_eq!(answer(r).await.1["error"]["type"], "permission_error");

    // The headers it needs, in GitLab's order.
    for (missing, text) in [
        (
            "x-gitlab-global-user-id",
            "Missing X-Gitlab-Global-User-Id header",
        ),
        ("x-gitlab-realm", "Missing X-Gitlab-Realm header"),
    ] {
        let token = s.token(json!({"gitlab_realm": null}));
        let r = s
            .post("/v1/code/user_access_token", &token, &[(missing, "")])
            .await;
        assert_eq!(
            answer(r).await,
            (StatusCode::BAD_REQUEST, json!({ "detail": text })),
            "{missing}"
        );
    }
    // Without a signing key there is nothing to sign with.
    let unsigned = Setup::new().await;
    let r = unsigned
        .post(
            "/v1/code/user_access_token",
            &unsigned.token(json!({})),
            &[],
        )
        .await;
    assert_eq!(
        answer(r).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": "Failed to generate JWT"})
        )
    );
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_verifying_as_a_validation_key() {
    let old = Setup::with_config(&format!("signing_key = \"{}\"", fixture_ref("rsa_c.pem"))).await;
    let r = old
        .post("/v1/code/user_access_token", &old.token(json!({})), &[])
        .await;
    let ide = answer(r).await.1["token"].as_str().unwrap().to_owned();

    let rotated = Setup::with_config(&format!(
        "signing_key = \"{}\"\nvalidation_keys = [\"{}\"]",
        fixture_ref("rsa_b.pem"),
        fixture_ref("rsa_c.pem")
    ))
    .await;
    let r = rotated.post("/v2/code/completions", &ide, &[]).await;
    assert_eq!(r.status(), 200, "signed by the old key, still valid");

    let dropped =
        Setup::with_config(&format!("signing_key = \"{}\"", fixture_ref("rsa_b.pem"))).await;
    let r = dropped.post("/v2/code/completions", &ide, &[]).await;
    assert_401(r, "Forbidden by auth provider").await;

    // The instance's own keys never sign what claims to be a gateway's token.
    let forged = old.key.sign(&ide_claims(USER));
    let r = old.post("/v2/code/completions", &forged, &[]).await;
    assert_401(r, "Forbidden by auth provider").await;
}

#[tokio::test]
async fn api_keys_work_beside_gitlab_tokens() {
    let s = Setup::new().await;
    let key =
        s.gw.key(super::store::KeySpec {
            name: "continue".into(),
            ..Default::default()
        })
        .await;
    let r =
        s.gw.call(
            Method::POST,
            "/v1/completions",
            Some(&key),
            Some(json!({"model": "echo", "prompt": "def"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    // And on GitLab's routes too, without GitLab's headers.
    let r =
        s.gw.call(
            Method::POST,
            "/v2/code/completions",
            Some(&key),
            Some(completion()),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r =
        s.gw.call(
            Method::POST,
            "/v1/completions",
            None,
            Some(json!({"model": "echo"})),
        )
        .await;
    let body = json_body(r).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("missing API key or token"),
        "{body}"
    );
}
