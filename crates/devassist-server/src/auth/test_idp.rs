//! For the token tests: an identity provider on 127.0.0.1 (OIDC discovery and a JWKS that a
//! test can change, each GET counted) and signers over the fixture keys in
//! `tests/fixtures/jwt/`, including the forgeries an attacker would try.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `file:` reference to a fixture, for configs.
pub fn fixture_ref(name: &str) -> String {
    format!(
        "file:{}/../../tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A private key that signs tokens, with the `kid` it puts in them.
#[derive(Clone)]
pub struct Signer {
    pem: String,
    alg: Algorithm,
    pub kid: Option<String>,
}

impl Signer {
    pub fn rsa(file: &str, kid: &str) -> Self {
        Self {
            pem: fixture(file),
            alg: Algorithm::RS256,
            kid: Some(kid.into()),
        }
    }

    pub fn ec(file: &str, kid: &str) -> Self {
        Self {
            pem: fixture(file),
            alg: Algorithm::ES256,
            kid: Some(kid.into()),
        }
    }

    fn key(&self) -> EncodingKey {
        match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(self.pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(self.pem.as_bytes()),
        }
        .unwrap()
    }

    /// The public half as a JWK, as a provider publishes it.
    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key(), self.alg).unwrap();
        jwk.common.key_id = self.kid.clone();
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        encode(&header, claims, &self.key()).unwrap()
    }

    /// The same claims signed with this key under another `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        Self {
            kid: Some(kid.into()),
            ..self.clone()
        }
        .sign(claims)
    }
}

/// `alg: none`: no signature at all.
pub fn unsigned(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}

/// HS256 with the provider's public key (its PEM text) as the HMAC secret: the classic
/// algorithm-confusion forgery, which anyone who can read the public key can make.
pub fn hmac_with_public_key(public_pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[derive(Clone)]
struct Published {
    base: String,
    keys: Arc<Mutex<Vec<Value>>>,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
}

/// A provider serving `/.well-known/openid-configuration` and its JWKS (at GitLab's path,
/// `/oauth/discovery/keys`) on a real socket.
pub struct Idp {
    pub url: String,
    published: Published,
    server: tokio::task::JoinHandle<()>,
}

impl Idp {
    pub async fn start(keys: &[&Signer]) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published = Published {
            base: url.clone(),
            keys: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect())),
            discovery_hits: Arc::default(),
            jwks_hits: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(p): State<Published>| async move {
                    p.discovery_hits.fetch_add(1, Ordering::SeqCst);
                    Json(json!({
                        "issuer": p.base,
                        "jwks_uri": format!("{}/oauth/discovery/keys", p.base),
                    }))
                }),
            )
            .route(
                "/oauth/discovery/keys",
                get(|State(p): State<Published>| async move {
                    // Counted once the answer is fixed: a test that saw the count change
                    // may then publish other keys.
                    let keys = p.keys.lock().unwrap().clone();
                    p.jwks_hits.fetch_add(1, Ordering::SeqCst);
                    Json(json!({ "keys": keys }))
                }),
            )
            .with_state(published.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp {
            url,
            published,
            server,
        }
    }

    /// Replaces the published key set (a rotation).
    pub fn publish(&self, keys: &[&Signer]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    pub fn jwks_hits(&self) -> usize {
        self.published.jwks_hits.load(Ordering::SeqCst)
    }

    /// Waits (a few seconds at most) until the gateway's start-up fetch has arrived.
    pub async fn wait_for_hits(&self, n: usize) {
        for _ in 0..500 {
            if self.jwks_hits() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the JWKS was fetched {} times, not {n}", self.jwks_hits());
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
