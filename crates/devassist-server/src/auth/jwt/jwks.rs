//! An identity provider's signing keys (its JWKS), kept in memory. A tracked task loads them
//! at start and again every `jwks_ttl`; a token whose `kid` is unknown makes the request
//! fetch them at once, at most once per `refetch_interval` (a key rotation is seen on its
//! first token; a flood of made-up `kid`s costs one fetch per interval). One fetch is in
//! flight at a time: requests that need keys meanwhile wait for it and use its result. A
//! failed fetch is logged and the keys already held stay in use.
//!
//! Timing runs on tokio's clock (paused in `tests_jwks.rs`). Fetching is behind [`Source`],
//! so those tests count fetches without sockets; the real source is [`HttpSource`], on the
//! gateway's one HTTP client.

use devassist_backends::http::{GetOptions, get_json};
use futures::future::BoxFuture;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where a key set comes from.
pub trait Source: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'static, Result<JwkSet, String>>;
    /// For logs: the URL.
    fn describe(&self) -> String;
}

/// The keys of an OIDC provider over HTTP: `jwks_uri` from its discovery document, or a
/// JWKS URL given outright.
#[derive(Debug, Clone)]
pub enum HttpSource {
    /// `<base>/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery(String),
    Jwks(String),
}

/// GitLab's gateway allows each of its two GETs 10 s.
fn options() -> GetOptions {
    GetOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        max_body: 1024 * 1024,
        ..GetOptions::default()
    }
}

impl HttpSource {
    /// The discovery document's URL for an issuer or a GitLab instance URL.
    pub fn discovery(base: &str) -> Self {
        HttpSource::Discovery(format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        ))
    }

    async fn load(self) -> Result<JwkSet, String> {
        let jwks_url = match &self {
            HttpSource::Jwks(url) => url.clone(),
            HttpSource::Discovery(url) => {
                let doc = get_json(url, &options())
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                doc.get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("{url}: no `jwks_uri` in the discovery document"))?
                    .to_owned()
            }
        };
        let set = get_json(&jwks_url, &options())
            .await
            .map_err(|e| format!("{jwks_url}: {e}"))?;
        serde_json::from_value(set).map_err(|e| format!("{jwks_url}: not a JWKS: {e}"))
    }
}

impl Source for HttpSource {
    fn fetch(&self) -> BoxFuture<'static, Result<JwkSet, String>> {
        Box::pin(self.clone().load())
    }

    fn describe(&self) -> String {
        match self {
            HttpSource::Discovery(u) | HttpSource::Jwks(u) => u.clone(),
        }
    }
}

/// One usable key.
pub struct Key {
    pub key: DecodingKey,
    /// The algorithm the JWK names, if it names one: a token signed with another is not
    /// verified with this key.
    pub alg: Option<Algorithm>,
}

impl Key {
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|a| a == alg)
    }
}

/// The usable keys of a set: public signature keys (RSA, EC, OKP) only. An `oct` key, one
/// marked for encryption, or one that does not parse is left out.
fn usable(set: &JwkSet) -> (HashMap<String, Arc<Key>>, Vec<Arc<Key>>) {
    let mut by_kid = HashMap::new();
    let mut all = Vec::new();
    for jwk in &set.keys {
        let asymmetric = matches!(
            jwk.algorithm,
            AlgorithmParameters::RSA(_)
                | AlgorithmParameters::EllipticCurve(_)
                | AlgorithmParameters::OctetKeyPair(_)
        );
        let signing = !matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        );
        if !asymmetric || !signing {
            continue;
        }
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(ka) => match Algorithm::try_from(ka) {
                Ok(a) => Some(a),
                // An encryption algorithm (`RSA-OAEP`) or one we do not know.
                Err(_) => continue,
            },
        };
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let key = Arc::new(Key { key, alg });
        if let Some(kid) = &jwk.common.key_id {
            by_kid.insert(kid.clone(), key.clone());
        }
        all.push(key);
    }
    (by_kid, all)
}

#[derive(Default)]
struct Held {
    by_kid: HashMap<String, Arc<Key>>,
    all: Vec<Arc<Key>>,
    /// Fetches finished, successful or not: a request that waited for a fetch sees this
    /// change and does not fetch again.
    generation: u64,
    /// The last fetch succeeded.
    ok: bool,
    /// The last fetch a request asked for (unknown `kid`, or no keys yet).
    last_refetch: Option<Instant>,
}

/// A provider's key set, kept fresh.
pub struct Jwks {
    source: Box<dyn Source>,
    ttl: Duration,
    refetch_interval: Duration,
    held: RwLock<Held>,
    /// Held while a fetch runs: one at a time.
    flight: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// Starts keeping `source`'s keys: a tracked task loads them now and every `ttl`
    /// (after a failure, every `refetch_interval`) until `cancel`.
    pub fn start(
        source: Box<dyn Source>,
        ttl: Duration,
        refetch_interval: Duration,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Arc<Self> {
        let jwks = Arc::new(Self {
            source,
            ttl,
            refetch_interval,
            held: RwLock::new(Held::default()),
            flight: tokio::sync::Mutex::new(()),
        });
        let keeper = jwks.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            keeper.fetch_if(|held| held.generation == 0).await;
            loop {
                let wait = if keeper.read(|h| h.ok) {
                    keeper.ttl
                } else {
                    keeper.refetch_interval
                };
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                keeper.fetch_if(|_| true).await;
            }
        });
        jwks
    }

    fn read<T>(&self, f: impl FnOnce(&Held) -> T) -> T {
        match self.held.read() {
            Ok(h) => f(&h),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// The key named `kid`: from the keys held, else after one fetch if the last fetch for
    /// an unknown key was long enough ago.
    pub async fn key(&self, kid: &str) -> Option<Arc<Key>> {
        let (found, generation) = self.read(|h| (h.by_kid.get(kid).cloned(), h.generation));
        if found.is_some() {
            return found;
        }
        self.refetch(generation).await;
        self.read(|h| h.by_kid.get(kid).cloned())
    }

    /// Every key held, for a token without a `kid` (fetched first if none is held yet).
    pub async fn all(&self) -> Vec<Arc<Key>> {
        let (all, generation) = self.read(|h| (h.all.clone(), h.generation));
        if !all.is_empty() {
            return all;
        }
        self.refetch(generation).await;
        self.read(|h| h.all.clone())
    }

    /// A fetch a request asks for, having seen `generation`. Waits for a fetch in flight and
    /// uses it; else fetches unless the last asked-for fetch is within `refetch_interval`.
    async fn refetch(&self, seen: u64) {
        let interval = self.refetch_interval;
        self.fetch_if(|held| {
            if held.generation != seen {
                return false;
            }
            let now = Instant::now();
            // The first load is not a refetch: it does not count against the interval.
            if held.generation > 0 {
                if held
                    .last_refetch
                    .is_some_and(|at| now.saturating_duration_since(at) < interval)
                {
                    return false;
                }
                held.last_refetch = Some(now);
            }
            true
        })
        .await;
    }

    /// Fetches if `want` says so once this is the only fetch in flight.
    async fn fetch_if(&self, want: impl FnOnce(&mut Held) -> bool) {
        let _flight = self.flight.lock().await;
        let go = match self.held.write() {
            Ok(mut h) => want(&mut h),
            Err(_) => false,
        };
        if !go {
            return;
        }
        let fetched = self.source.fetch().await;
        let Ok(mut held) = self.held.write() else {
            return;
        };
        held.generation += 1;
        match fetched {
            Ok(set) => {
                let (by_kid, all) = usable(&set);
                if all.is_empty() {
                    tracing::warn!(source = %self.source.describe(), "No usable signing keys in the key set");
                }
                tracing::debug!(source = %self.source.describe(), keys = all.len(), "Signing keys fetched");
                held.by_kid = by_kid;
                held.all = all;
                held.ok = true;
            }
            Err(error) => {
                tracing::warn!(
                    source = %self.source.describe(),
                    %error,
                    kept = held.all.len(),
                    "Cannot fetch the signing keys; keeping those held"
                );
                held.ok = false;
            }
        }
    }
}

#[cfg(test)]
#[path = "tests_jwks.rs"]
mod tests;
