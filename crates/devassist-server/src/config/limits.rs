//! `[limits]`: where per-key limits (`rpm`, `max_parallel`, `tpm`, the token budget) are
//! counted. In memory by default (each replica on its own); in Redis when several gateway
//! replicas must share one count (`auth/limits/redis.rs`).

use super::secret;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The `[limits]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawLimits {
    /// Where the keys' limits are counted: `memory` (default; each gateway replica counts on
    /// its own) or `redis` (one count shared by every replica that uses the same Redis and
    /// `key_prefix`).
    pub store: Option<String>,
    /// The Redis server, with `store = "redis"`: `redis://host:6379/0`, `rediss://` for
    /// TLS, `redis+unix:///path/redis.sock`. A URL with a password must be a secret
    /// reference, `env:NAME` or `file:PATH`.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key the gateway writes. Default `devassist:limits:`.
    pub key_prefix: Option<String>,
    /// What a request gets when Redis does not answer in time: `open` (default: admitted
    /// without its limits, with a warning in the log) or `closed` (503 with `Retry-After`).
    pub on_redis_error: Option<String>,
    /// Longest a limit check may wait for Redis before `on_redis_error` decides. Default
    /// `50ms`.
    pub redis_timeout: Option<String>,
}

/// What a request gets when the shared store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// Admitted without its limits being checked.
    Open,
    /// Refused with 503.
    Closed,
}

impl OnStoreError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnStoreError::Open => "open",
            OnStoreError::Closed => "closed",
        }
    }
}

/// The Redis store's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisLimitSettings {
    /// The URL as given or resolved from its secret reference; may hold a password.
    pub url: String,
    pub key_prefix: String,
    pub on_error: OnStoreError,
    pub timeout: Duration,
}

impl RedisLimitSettings {
    /// The URL without its password, for logs.
    pub fn url_for_logs(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

impl fmt::Debug for RedisLimitSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimitSettings")
            .field("url", &self.url_for_logs())
            .field("key_prefix", &self.key_prefix)
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Where limits are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LimitsSettings {
    #[default]
    Memory,
    Redis(RedisLimitSettings),
}

pub const DEFAULT_KEY_PREFIX: &str = "devassist:limits:";
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);

pub fn validate(
    raw: RawLimits,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut impl FnMut(String, String),
) -> LimitsSettings {
    let redis = match raw.store.as_deref() {
        None | Some("memory") => false,
        Some("redis") => true,
        Some(other) => {
            p(
                "limits.store".into(),
                format!("`{other}` is not `memory` or `redis`"),
            );
            false
        }
    };
    if !redis {
        for (key, set) in [
            ("redis_url", raw.redis_url.is_some()),
            ("key_prefix", raw.key_prefix.is_some()),
            ("on_redis_error", raw.on_redis_error.is_some()),
            ("redis_timeout", raw.redis_timeout.is_some()),
        ] {
            if set {
                p(
                    format!("limits.{key}"),
                    "is only used with `store = \"redis\"`".into(),
                );
            }
        }
        return LimitsSettings::Memory;
    }
    let url = match raw.redis_url.as_deref() {
        None => {
            p(
                "limits.redis_url".into(),
                "is required with `store = \"redis\"` (e.g. `redis://127.0.0.1:6379/0`)".into(),
            );
            String::new()
        }
        Some(value) => redis_url(value, env).unwrap_or_else(|e| {
            p("limits.redis_url".into(), e);
            String::new()
        }),
    };
    let key_prefix = raw
        .key_prefix
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
    if key_prefix.contains(['{', '}']) {
        // The gateway puts each caller's keys in one Redis Cluster slot with `{id}`.
        p(
            "limits.key_prefix".into(),
            "must not contain `{` or `}` (the gateway adds a hash tag per key)".into(),
        );
    }
    let on_error = match raw.on_redis_error.as_deref() {
        None | Some("open") => OnStoreError::Open,
        Some("closed") => OnStoreError::Closed,
        Some(other) => {
            p(
                "limits.on_redis_error".into(),
                format!("`{other}` is not `open` or `closed`"),
            );
            OnStoreError::Open
        }
    };
    let timeout = super::validate::duration(
        raw.redis_timeout.as_deref(),
        "limits.redis_timeout",
        DEFAULT_REDIS_TIMEOUT,
        p,
    );
    if timeout.is_zero() || timeout > Duration::from_secs(10) {
        p(
            "limits.redis_timeout".into(),
            "must be greater than 0 and at most 10s: every limited request waits for it".into(),
        );
    }
    LimitsSettings::Redis(RedisLimitSettings {
        url,
        key_prefix,
        on_error,
        timeout,
    })
}

/// A Redis URL, or a secret reference holding one (for a URL with a password).
fn redis_url(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let value = value.trim();
    let reference = value.starts_with("env:") || value.starts_with("file:");
    let url = if reference {
        secret::resolve(value, env)?.expose().trim().to_owned()
    } else {
        value.to_owned()
    };
    let parsed = url::Url::parse(&url).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(
        parsed.scheme(),
        "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys" | "valkey+unix"
    ) {
        return Err(format!(
            "must be a redis://, rediss:// or redis+unix:// URL, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.password().is_some() && !reference {
        return Err("holds a password: give the URL as `env:NAME` or `file:PATH` instead".into());
    }
    // The driver's own parser: what it refuses here it would refuse at start-up.
    redis::Client::open(url.as_str()).map_err(|e| format!("is not a usable Redis URL: {e}"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawLimits) -> (LimitsSettings, Vec<String>) {
        let mut problems = Vec::new();
        let env = |n: &str| (n == "REDIS_URL").then(|| "redis://:pw@cache:6380/2".to_owned());
        let s = validate(raw, &env, &mut |path, msg| {
            problems.push(format!("{path}: {msg}"))
        });
        (s, problems)
    }

    #[test]
    fn memory_is_the_default_and_redis_keys_need_redis() {
        assert_eq!(
            check(RawLimits::default()),
            (LimitsSettings::Memory, vec![])
        );
        let (_, problems) = check(RawLimits {
            redis_url: Some("redis://127.0.0.1/0".into()),
            ..RawLimits::default()
        });
        assert_eq!(
            problems,
            ["limits.redis_url: is only used with `store = \"redis\"`"]
        );
    }

    #[test]
    fn redis_settings_are_validated() {
        let (s, problems) = check(RawLimits {
            store: Some("redis".into()),
            redis_url: Some("env:REDIS_URL".into()),
            on_redis_error: Some("closed".into()),
            redis_timeout: Some("20ms".into()),
            ..RawLimits::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        let LimitsSettings::Redis(r) = s else {
            panic!("not redis: {s:?}")
        };
        assert_eq!(r.url, "redis://:pw@cache:6380/2");
        assert_eq!(r.key_prefix, DEFAULT_KEY_PREFIX);
        assert_eq!(r.on_error, OnStoreError::Closed);
        assert_eq!(r.timeout, Duration::from_millis(20));
        assert!(!format!("{r:?}").contains("pw"), "{r:?}");

        let (_, problems) = check(RawLimits {
            store: Some("redis".into()),
            ..RawLimits::default()
        });
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("limits.redis_url: is required"));

        for (url, why) in [
            ("http://cache:6379", "not http://"),
            ("redis://:inline@cache", "holds a password"),
            ("127.0.0.1:6379", "not a URL"),
        ] {
            let (_, problems) = check(RawLimits {
                store: Some("redis".into()),
                redis_url: Some(url.into()),
                ..RawLimits::default()
            });
            assert!(
                problems.iter().any(|p| p.contains(why)),
                "{url}: {problems:?}"
            );
        }
        let (_, problems) = check(RawLimits {
            store: Some("valkey-cluster".into()),
            ..RawLimits::default()
        });
        assert_eq!(
            problems,
            ["limits.store: `valkey-cluster` is not `memory` or `redis`"]
        );
        let (_, problems) = check(RawLimits {
            store: Some("redis".into()),
            redis_url: Some("rediss://cache:6380".into()),
            key_prefix: Some("{x}".into()),
            on_redis_error: Some("maybe".into()),
            redis_timeout: Some("0s".into()),
        });
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            [
                "limits.key_prefix",
                "limits.on_redis_error",
                "limits.redis_timeout"
            ]
        );
    }
}
