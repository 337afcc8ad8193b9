//! Generic OIDC tokens through the whole app, against a provider served on 127.0.0.1: RS256
//! and ES256 tokens accepted, every forgery and misaddressed token refused with a reason,
//! groups mapped to models, features, limits and admin.

use super::test_idp::{Idp, Signer, fixture, hmac_with_public_key, now, unsigned};
use super::tests::{Gw, json_body, refused};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

struct Setup {
    gw: Gw,
    idp: Idp,
    rsa: Signer,
    ec: Signer,
}

impl Setup {
    async fn new(extra: &str) -> Setup {
        let rsa = Signer::rsa("rsa_b.pem", "sso-rsa");
        let ec = Signer::ec("ec_a.pem", "sso-ec");
        let idp = Idp::start(&[&rsa, &ec]).await;
        let gw = Gw::new(&format!(
            "[auth]\nmode = [\"oidc\", \"api_keys\"]\n[auth.oidc]\nissuer = \"{}\"\n\
             audience = [\"devassist\"]\nalgorithms = [\"RS256\", \"ES256\"]\nuser_claim = \"email\"\n{extra}\n\
             [auth.oidc.groups.dev]\nmodels = [\"echo\"]\nfeatures = [\"code_completion\", \"chat\"]\nrpm = 2\n\
             [auth.oidc.groups.ml]\nmodels = [\"other\"]\nrpm = 100\n\
             [auth.oidc.groups.ops]\nadmin = true\n",
            idp.url
        ));
        idp.wait_for_hits(1).await;
        Setup { gw, idp, rsa, ec }
    }

    fn claims(&self, email: &str, groups: &[&str]) -> Value {
        json!({
            "iss": self.idp.url, "aud": "devassist", "sub": "u-42", "email": email,
            "groups": groups, "iat": now(), "exp": now() + 600,
        })
    }

    async fn chat(&self, token: &str, model: &str) -> (StatusCode, Value) {
        let r = self
            .gw
            .call(
                Method::POST,
                "/v1/chat/completions",
                Some(token),
                Some(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})),
            )
            .await;
        (r.status(), json_body(r).await)
    }
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

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_group_s_models_and_features_are_the_user_s() {
    let s = Setup::new("").await;
    let claims = s.claims("ana@corp.example", &["dev"]);
    for token in [s.rsa.sign(&claims), s.ec.sign(&claims)] {
        let (status, body) = s.chat(&token, "echo").await;
        assert_eq!(status, 200, "{body}");
    }
    let token = s.rsa.sign(&claims);
    let (status, body) = s.chat(&token, "other").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(
        message(&body),
        "user `ana@corp.example` (groups: dev) may not use model `other` (it may use: echo)"
    );
    let r =
        s.gw.call(
            Method::POST,
            "/v1/embeddings",
            Some(&token),
            Some(json!({"model": "echo", "input": "x"})),
        )
        .await;
    assert_eq!(r.status(), 403, "embeddings are not among dev's features");

    // Two groups: both groups' models, the larger rate limit.
    let both = s
        .rsa
        .sign(&s.claims("bo@corp.example", &["dev", "ml", "unrelated"]));
    for model in ["echo", "other", "echo"] {
        let (status, body) = s.chat(&both, model).await;
        assert_eq!(status, 200, "{model}: {body}");
    }
    // dev alone: 2 requests a minute, counted for this user.
    let (status, _) = s.chat(&token, "echo").await;
    assert_eq!(status, 429, "ana's third request in a minute");
    let other_dev = s.rsa.sign(&s.claims("cy@corp.example", &["dev"]));
    assert_eq!(
        s.chat(&other_dev, "echo").await.0,
        200,
        "limits are per user"
    );

    // Admin groups read /status; others do not.
    let r = s.gw.call(Method::GET, "/status", Some(&token), None).await;
    assert_eq!(refused(&r), Some(StatusCode::FORBIDDEN));
    let ops = s.rsa.sign(&s.claims("root@corp.example", &["ops"]));
    let r = s.gw.call(Method::GET, "/status", Some(&ops), None).await;
    assert_eq!(r.status(), 200);

    let nobody = s.rsa.sign(&s.claims("eve@corp.example", &["interns"]));
    let (status, body) = s.chat(&nobody, "echo").await;
    assert_eq!(status, 403);
    assert_eq!(
        message(&body),
        "user `eve@corp.example` is in no group that may use this gateway (their groups: interns)"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_reason() {
    let s = Setup::new("").await;
    let good = s.claims("ana@corp.example", &["dev"]);
    let pem = fixture("rsa_a.pub.pem");
    let cases = [
        (
            "alg none",
            unsigned(&good),
            "invalid token: not a JWT that can be read",
        ),
        (
            "HS256 with the public key",
            hmac_with_public_key(&pem, "sso-rsa", &good),
            "invalid token: the token is signed with HS256, which is not accepted here",
        ),
        (
            "expired",
            s.rsa.sign(&with(good.clone(), json!({"exp": now() - 120}))),
            "invalid token: the token has expired",
        ),
        (
            "not yet valid",
            s.rsa.sign(&with(good.clone(), json!({"nbf": now() + 300}))),
            "invalid token: the token is not valid yet",
        ),
        (
            "wrong audience",
            s.rsa.sign(&with(good.clone(), json!({"aud": "grafana"}))),
            "invalid token: the token is for another audience",
        ),
        (
            "wrong issuer",
            s.rsa
                .sign(&with(good.clone(), json!({"iss": "https://evil.example"}))),
            "invalid token: issuer `https://evil.example` is not trusted here",
        ),
        (
            "no user claim",
            s.rsa.sign(&with(good.clone(), json!({"email": null}))),
            "invalid token: the token has no `email` claim",
        ),
        (
            "someone else's key",
            Signer::rsa("rsa_c.pem", "sso-rsa").sign(&good),
            "invalid token: the signature does not match",
        ),
        (
            "unknown kid",
            Signer::rsa("rsa_c.pem", "sso-new").sign(&good),
            "invalid token: no known key signed this token (kid sso-new)",
        ),
    ];
    for (what, token, expect) in cases {
        let (status, body) = s.chat(&token, "echo").await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["type"], "authentication_error", "{what}");
        assert!(message(&body).starts_with(expect), "{what}: {body}");
    }
    // An Ollama route answers in Ollama's shape.
    let r =
        s.gw.call(
            Method::POST,
            "/api/generate",
            Some(&s.rsa.sign(&with(good, json!({"exp": now() - 120})))),
            Some(json!({"model": "echo", "prompt": "x"})),
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        json_body(r).await,
        json!({"error": "invalid token: the token has expired"})
    );
}

#[tokio::test]
async fn only_the_configured_algorithms_and_an_explicit_jwks_url() {
    let rsa = Signer::rsa("rsa_b.pem", "sso-rsa");
    let ec = Signer::ec("ec_a.pem", "sso-ec");
    let idp = Idp::start(&[&rsa, &ec]).await;
    let gw = Gw::new(&format!(
        "[auth]\nmode = \"oidc\"\n[auth.oidc]\nissuer = \"https://sso.corp.example\"\n\
         jwks_url = \"{}/oauth/discovery/keys\"\naudience = \"devassist\"\n[auth.oidc.groups.\"*\"]\n",
        idp.url
    ));
    idp.wait_for_hits(1).await;
    let claims = json!({"iss": "https://sso.corp.example", "aud": "devassist", "sub": "u-1",
        "exp": now() + 60});
    let r = gw
        .call(Method::GET, "/v1/models", Some(&rsa.sign(&claims)), None)
        .await;
    assert_eq!(r.status(), 200, "RS256, the default, with `*` for everyone");
    let r = gw
        .call(Method::GET, "/v1/models", Some(&ec.sign(&claims)), None)
        .await;
    assert_eq!(r.status(), 401, "ES256 is not configured");
    let body = json_body(r).await;
    assert!(message(&body).contains("signed with ES256"), "{body}");
    // An API key is not taken when only tokens are on.
    let r = gw
        .call(
            Method::GET,
            "/v1/models",
            Some("dak_0123456789ab_secret"),
            None,
        )
        .await;
    let body = json_body(r).await;
    assert_eq!(
        message(&body),
        "invalid credentials: this gateway takes tokens, not API keys"
    );
}
