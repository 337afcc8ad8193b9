//! The auth layer on the whole app, in memory on the mock backend: every route × every
//! mode, API keys, GitLab's tokens and OIDC tokens included (nothing but the health
//! endpoints without credentials when authentication is on; the routes are read from the
//! sources, so a new one cannot be forgotten), the headers keys come in, each refusal in the
//! dialect of its path. Keys, per-key models, limits and `/status`: `tests_keys.rs`; tokens:
//! `tests_gitlab.rs`, `tests_oidc.rs`; all on the helpers here.

use super::store::KeySpec;
use super::test_idp::{Idp, Signer, fixture_ref, now};
use crate::config;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MODELS: &str = r#"
[[backends]]
name = "m"
kind = "mock"

[[backends]]
name = "slow"
kind = "mock"
[backends.mock]
tokens = 4
token_delay = "300ms"

[[models]]
name = "echo"
backend = "m"
aliases = ["e:1"]
capabilities = ["completion", "embedding"]

[[models]]
name = "other"
backend = "m"

[[models]]
name = "drip"
backend = "slow"
"#;

pub(super) struct Gw {
    pub(super) app: axum::Router,
    pub(super) state: crate::AppState,
    _dir: tempfile::TempDir,
}

impl Gw {
    pub(super) fn new(auth: &str) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[server]\ndata_dir = \"{}\"\n{auth}\n{MODELS}",
            dir.path().display()
        );
        let settings = config::from_str(&text, &[], &|_| None).expect("valid config");
        let state = crate::build(&settings, None).expect("gateway builds");
        Gw {
            app: crate::app(state.clone()),
            state,
            _dir: dir,
        }
    }

    /// A new key in the gateway's store (what `devassist keys create` writes; the gateway
    /// sees the CLI's changes within a second, `keys.rs` tests that).
    pub(super) async fn key(&self, spec: KeySpec) -> String {
        let keys = self.state.auth.keys.as_ref().expect("API keys are on");
        keys.create(spec).await.unwrap().key
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let bearer = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        self.call_with(method, path, &headers, body).await
    }

    /// A request with these headers (and a JSON body).
    pub(super) async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap()
    }
}

/// Every path mounted with `.route("…")`, read from the crate's sources (test-only routes
/// too: unmounted paths must be refused like any other).
fn mounted_paths() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.to_string_lossy().contains("test")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut paths = Vec::new();
    for file in files {
        let code = std::fs::read_to_string(&file).unwrap();
        for (i, _) in code.match_indices(".route(") {
            let rest = code[i + ".route(".len()..].trim_start();
            if let Some(lit) = rest.strip_prefix('"') {
                let end = lit.find('"').unwrap();
                paths.push(lit[..end].to_string());
            }
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| {
            // `{id}` and `{*rest}` become concrete segments.
            let mut out = String::new();
            let mut depth = 0;
            for c in p.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        out.push('x');
                    }
                    _ if depth == 0 => out.push(c),
                    _ => {}
                }
            }
            out
        })
        .collect()
}

pub(super) fn refused(resp: &Response) -> Option<StatusCode> {
    resp.extensions()
        .get::<super::Refused>()
        .map(|_| resp.status())
}

pub(super) async fn json_body(resp: Response) -> Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

const HEALTH: [&str; 4] = [
    "/",
    "/api/version",
    "/monitoring/healthz",
    "/monitoring/ready",
];

#[tokio::test]
async fn the_route_list_is_complete_enough_to_trust() {
    let paths = mounted_paths();
    for expected in [
        "/api/generate",
        "/api/pull",
        "/v1/chat/completions",
        "/v2/code/completions",
        "/v1/chat/x",
        "/status",
        "/status/queue",
        "/admin/keys",
        "/admin/keys/x/rotate",
        "/v1/search/docs",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    assert!(paths.len() >= 30, "{paths:?}");
}

/// GitLab's headers for a token (`Authorization`, type, realm, instance, user).
pub(super) fn gitlab_headers<'a>(bearer: &'a str, user: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("authorization", bearer),
        ("x-gitlab-authentication-type", "oidc"),
        ("x-gitlab-realm", "self-managed"),
        ("x-gitlab-instance-id", super::tests_gitlab::INSTANCE),
        ("x-gitlab-global-user-id", user),
    ]
}

/// Token modes for the table: a GitLab instance (its keys on a local IdP, the gateway's
/// own signing key) and an OIDC provider with a user group and an admin group.
struct TokenModes {
    gitlab: Gw,
    oidc: Gw,
    instance: String,
    ide: String,
    oidc_user: String,
    oidc_admin: String,
    _idps: (Idp, Idp),
}

impl TokenModes {
    async fn new() -> TokenModes {
        let gitlab_key = Signer::rsa("rsa_a.pem", "gitlab-a");
        let gitlab_idp = Idp::start(&[&gitlab_key]).await;
        let gitlab = Gw::new(&format!(
            "[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"{}\"\nsigning_key = \"{}\"",
            gitlab_idp.url,
            fixture_ref("rsa_c.pem")
        ));
        let instance = gitlab_key.sign(&super::tests_gitlab::instance_claims(&gitlab_idp.url));
        let ide = Signer::rsa("rsa_c.pem", super::jwt::gitlab::SIGNING_KID)
            .sign(&super::tests_gitlab::ide_claims("777"));
        let sso_key = Signer::rsa("rsa_b.pem", "sso-1");
        let sso = Idp::start(&[&sso_key]).await;
        let oidc = Gw::new(&format!(
            "[auth]\nmode = \"oidc\"\n[auth.oidc]\nissuer = \"{}\"\naudience = \"devassist\"\n\
             [auth.oidc.groups.dev]\nmodels = [\"echo\"]\n[auth.oidc.groups.ops]\nadmin = true\n",
            sso.url
        ));
        let person = |groups: &[&str]| {
            sso_key.sign(&json!({
                "iss": sso.url, "aud": "devassist", "sub": "u-1", "groups": groups,
                "iat": now(), "exp": now() + 600,
            }))
        };
        TokenModes {
            gitlab,
            oidc,
            instance: format!("Bearer {instance}"),
            ide: format!("Bearer {ide}"),
            oidc_user: person(&["dev"]),
            oidc_admin: person(&["ops"]),
            _idps: (gitlab_idp, sso),
        }
    }
}

/// Every route × every mode: who gets through the auth layer.
#[tokio::test]
async fn every_route_in_every_mode() {
    let mut paths = mounted_paths();
    paths.push("/no/such/route".into());
    paths.push("/v1/messages".into());
    paths.push("/metrics".into());

    let local = Gw::new("");
    let anonymous = Gw::new("[auth]\nallow_anonymous = true");
    let keys = Gw::new("[auth]\nmode = \"api_keys\"");
    let keys_anon = Gw::new("[auth]\nmode = \"api_keys\"\nallow_anonymous = true");
    let tokens = TokenModes::new().await;
    let user = keys
        .key(KeySpec {
            name: "user".into(),
            ..KeySpec::default()
        })
        .await;
    let admin = keys
        .key(KeySpec {
            name: "root".into(),
            admin: true,
            ..KeySpec::default()
        })
        .await;

    for path in &paths {
        let admin_route = ["/status", "/metrics", "/admin"]
            .iter()
            .any(|p| path == p || path.starts_with(&format!("{p}/")));
        let management = super::MANAGEMENT.contains(&path.as_str());
        for method in [Method::GET, Method::POST] {
            let open = HEALTH.contains(&path.as_str()) && method == Method::GET;
            let at = format!("{method} {path}");
            // Auth off on loopback: the operator, as before authentication existed.
            let r = local.call(method.clone(), path, None, None).await;
            assert_eq!(refused(&r), None, "local: {at}");

            // Auth off, anonymous callers allowed: no key management, no model management,
            // a redacted /status.
            let r = anonymous.call(method.clone(), path, None, None).await;
            let expect = if path.starts_with("/admin") {
                Some(StatusCode::UNAUTHORIZED)
            } else if management {
                Some(StatusCode::FORBIDDEN)
            } else {
                None
            };
            assert_eq!(refused(&r), expect, "anonymous: {at}");

            // API keys: nothing but health without a key.
            let r = keys.call(method.clone(), path, None, None).await;
            let expect = (!open).then_some(StatusCode::UNAUTHORIZED);
            assert_eq!(refused(&r), expect, "no key: {at}");
            if !open {
                assert_eq!(r.headers()["www-authenticate"], "Bearer", "{at}");
            }
            let r = keys
                .call(method.clone(), path, Some("dak_0123456789ab_wrong"), None)
                .await;
            assert_eq!(refused(&r), expect, "wrong key: {at}");
            let r = keys.call(method.clone(), path, Some(&user), None).await;
            let expect = (admin_route || management).then_some(StatusCode::FORBIDDEN);
            assert_eq!(refused(&r), expect, "user key: {at}");
            let r = keys.call(method.clone(), path, Some(&admin), None).await;
            assert_eq!(refused(&r), None, "admin key: {at}");

            // API keys and anonymous callers.
            let r = keys_anon.call(method.clone(), path, None, None).await;
            let expect = if admin_route {
                Some(StatusCode::UNAUTHORIZED)
            } else if management {
                Some(StatusCode::FORBIDDEN)
            } else {
                None
            };
            assert_eq!(refused(&r), expect, "anonymous with keys: {at}");

            // GitLab's tokens: nothing without one; an instance token everywhere but admin
            // routes; an IDE token only on GitLab's two completion routes.
            let r = tokens.gitlab.call(method.clone(), path, None, None).await;
            let expect = (!open).then_some(StatusCode::UNAUTHORIZED);
            assert_eq!(refused(&r), expect, "gitlab, no token: {at}");
            let r = tokens
                .gitlab
                .call_with(
                    method.clone(),
                    path,
                    &gitlab_headers(&tokens.instance, "777"),
                    None,
                )
                .await;
            let expect = (admin_route || management).then_some(StatusCode::FORBIDDEN);
            assert_eq!(refused(&r), expect, "gitlab instance token: {at}");
            let r = tokens
                .gitlab
                .call_with(
                    method.clone(),
                    path,
                    &gitlab_headers(&tokens.ide, "777"),
                    None,
                )
                .await;
            let completions = ["/v2/code/completions", "/v2/completions"].contains(&path.as_str());
            let expect = (!open && !completions).then_some(StatusCode::FORBIDDEN);
            assert_eq!(refused(&r), expect, "gitlab IDE token: {at}");

            // OIDC: nothing without a token; a user's group is no admin, an admin group is.
            let r = tokens.oidc.call(method.clone(), path, None, None).await;
            let expect = (!open).then_some(StatusCode::UNAUTHORIZED);
            assert_eq!(refused(&r), expect, "oidc, no token: {at}");
            let r = tokens
                .oidc
                .call(method.clone(), path, Some(&tokens.oidc_user), None)
                .await;
            let expect = (admin_route || management).then_some(StatusCode::FORBIDDEN);
            assert_eq!(refused(&r), expect, "oidc user: {at}");
            let r = tokens
                .oidc
                .call(method.clone(), path, Some(&tokens.oidc_admin), None)
                .await;
            assert_eq!(refused(&r), None, "oidc admin: {at}");
        }
    }
}

#[tokio::test]
async fn management_for_anonymous_callers_only_when_allowed() {
    let gw = Gw::new("[auth]\nallow_anonymous = true\n[ollama]\nallow_management = true");
    let r = gw
        .call(
            Method::POST,
            "/api/pull",
            None,
            Some(json!({"model": "echo"})),
        )
        .await;
    assert_eq!(refused(&r), None);
    let gw = Gw::new("[auth]\nallow_anonymous = true");
    let r = gw
        .call(
            Method::DELETE,
            "/api/delete",
            None,
            Some(json!({"model": "echo"})),
        )
        .await;
    assert_eq!(refused(&r), Some(StatusCode::FORBIDDEN));
    let body = json_body(r).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("allow_management = true"),
        "{body}"
    );
}

#[tokio::test]
async fn refusals_speak_the_dialect_of_their_path() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let r = gw.call(Method::POST, "/api/generate", None, None).await;
    assert_eq!(r.status(), 401);
    let body = json_body(r).await;
    assert!(
        body["error"].as_str().unwrap().contains("missing API key"),
        "{body}"
    );

    let r = gw
        .call(Method::POST, "/v1/chat/completions", Some("nope"), None)
        .await;
    assert_eq!(r.status(), 401);
    let body = json_body(r).await;
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid API key")
    );

    let r = gw.call(Method::POST, "/v1/messages", None, None).await;
    assert_eq!(r.status(), 401);
    let body = json_body(r).await;
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");

    let r = gw
        .call(Method::POST, "/v2/code/completions", None, None)
        .await;
    assert_eq!(r.status(), 401);
    let body = json_body(r).await;
    assert!(body["error"].as_str().is_some(), "GitLab's shape: {body}");

    let user = gw
        .key(KeySpec {
            name: "user".into(),
            ..KeySpec::default()
        })
        .await;
    let r = gw.call(Method::GET, "/status", Some(&user), None).await;
    assert_eq!(r.status(), 403);
    let body = json_body(r).await;
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin API key")
    );
}

#[tokio::test]
async fn keys_accepted_in_every_header_clients_send() {
    let gw = Gw::new("[auth]\nmode = \"api_keys\"");
    let key = gw
        .key(KeySpec {
            name: "k".into(),
            ..KeySpec::default()
        })
        .await;
    for (header, value) in [
        ("authorization", format!("Bearer {key}")),
        ("authorization", key.clone()),
        ("x-api-key", key.clone()),
    ] {
        let req = Request::get("/api/tags")
            .header(header, value)
            .body(Body::empty())
            .unwrap();
        let r = gw.app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), 200, "{header}");
    }
}
