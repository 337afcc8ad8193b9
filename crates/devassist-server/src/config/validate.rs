//! Raw → runtime. Collects every problem with its key path instead of stopping at the first.

use super::Problem;
use super::raw::{RawBackend, RawConfig, RawModel};
use super::secret;
use super::settings::*;
use std::collections::BTreeSet;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:11434";
const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;

pub fn validate(
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Settings> {
    let before = problems.len();
    let mut p = |path: String, msg: String| problems.push(Problem::new(path, msg));

    let listen_raw = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen_raw.parse().unwrap_or_else(|e| {
        p(
            "server.listen".into(),
            format!("`{listen_raw}` is not an address: {e}"),
        );
        std::net::SocketAddr::from(([127, 0, 0, 1], 11434))
    });
    if raw
        .server
        .worker_threads
        .is_some_and(|n| n == 0 || n > 1024)
    {
        p(
            "server.worker_threads".into(),
            "must be between 1 and 1024".into(),
        );
    }
    let max_body = raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
    if max_body == 0 {
        p(
            "server.max_body_bytes".into(),
            "must be greater than 0".into(),
        );
    }
    let shutdown_grace = duration(
        raw.server.shutdown_grace.as_deref(),
        "server.shutdown_grace",
        Duration::from_secs(30),
        &mut p,
    );
    let limits = server_limits(&raw.server, &mut p);

    let level = raw.log.level.unwrap_or_else(|| "info".into());
    if tracing_level_invalid(&level) {
        p(
            "log.level".into(),
            format!("`{level}` is not a log level or filter"),
        );
    }
    let format = match raw.log.format.as_deref() {
        None | Some("human") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => {
            p(
                "log.format".into(),
                format!("`{other}` is not `human` or `json`"),
            );
            LogFormat::Human
        }
    };

    let mut backends = Vec::new();
    let mut names = BTreeSet::new();
    for (i, b) in raw.backends.into_iter().enumerate() {
        if let Some(s) = backend(b, i, env, &mut p) {
            if !names.insert(s.name.clone()) {
                p(
                    format!("backends[{i}].name"),
                    format!("duplicate backend `{}`", s.name),
                );
            }
            backends.push(s);
        }
    }

    let mut models = Vec::new();
    let mut model_names = BTreeSet::new();
    for (i, m) in raw.models.into_iter().enumerate() {
        if let Some(s) = model(m, i, &names, &mut p) {
            for n in std::iter::once(&s.name).chain(&s.aliases) {
                if !model_names.insert(crate::router::normalize(n)) {
                    p(
                        format!("models[{i}]"),
                        format!("model name `{n}` is used twice"),
                    );
                }
            }
            models.push(s);
        }
    }

    let mut engine = EngineSettings::default();
    if let Some(e) = raw.engine.enabled {
        engine.enabled = e;
    }
    if let Some(t) = raw.engine.idle_timeout.as_deref() {
        // "-1" or "forever" keep engines loaded, like Ollama's negative keep_alive.
        engine.idle_timeout = if matches!(t.trim(), "-1" | "forever") {
            None
        } else {
            Some(duration(
                Some(t),
                "engine.idle_timeout",
                Duration::from_secs(300),
                &mut p,
            ))
        };
    }
    engine.wake_timeout = duration(
        raw.engine.wake_timeout.as_deref(),
        "engine.wake_timeout",
        engine.wake_timeout,
        &mut p,
    );
    for (key, value, target) in [
        ("ctx", raw.engine.ctx, &mut engine.ctx),
        ("parallel", raw.engine.parallel, &mut engine.parallel),
    ] {
        if let Some(v) = value {
            if v == 0 {
                p(format!("engine.{key}"), "must be greater than 0".into());
            }
            *target = v;
        }
    }
    if raw.engine.threads == Some(0) {
        p("engine.threads".into(), "must be greater than 0".into());
    }
    engine.threads = raw.engine.threads;

    let names: Vec<String> = models
        .iter()
        .flat_map(|m: &ModelSettings| std::iter::once(m.name.clone()).chain(m.aliases.clone()))
        .collect();
    let features = super::features::validate(raw.features, &names, &mut p);
    let gitlab = super::gitlab::validate(raw.gitlab, &mut p);
    let docs = super::docs::validate(raw.docs, &mut p);
    let metrics = super::telemetry::validate_metrics(raw.metrics, &mut p);
    let usage = super::telemetry::validate_usage(raw.usage, &mut p);
    let data_dir = super::telemetry::data_dir(raw.server.data_dir, env);
    let aliases = super::aliases::validate(raw.aliases, &mut p);
    let prompt_cache = super::prompt_cache::validate(raw.prompt_cache, &mut p);
    let auth = super::auth::validate(raw.auth, raw.ollama, env, &mut p);
    let limits_store = super::limits::validate(raw.limits, env, &mut p);
    let redaction = super::redaction::validate(raw.redaction, &mut p);
    let expanded =
        super::logging::validate(raw.log.expanded, raw.log.expanded_file, &data_dir, &mut p);

    (problems.len() == before).then(|| Settings {
        server: ServerSettings {
            listen,
            max_body_bytes: max_body as usize,
            shutdown_grace,
            models_dir: raw.server.models_dir.map(Into::into),
            worker_threads: raw.server.worker_threads,
            max_connections: limits.0,
            max_in_flight: limits.1,
            body_timeout: limits.2,
            data_dir,
        },
        log: LogSettings {
            level,
            format,
            expanded,
        },
        backends,
        models,
        engine,
        features,
        gitlab,
        docs,
        metrics,
        usage,
        aliases,
        prompt_cache,
        auth,
        limits: limits_store,
        redaction,
    })
}

fn backend(
    b: RawBackend,
    i: usize,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut impl FnMut(String, String),
) -> Option<BackendSettings> {
    let at = |k: &str| format!("backends[{i}].{k}");
    let Some(name) = b.name.filter(|n| !n.trim().is_empty()) else {
        p(at("name"), "is required".into());
        return None;
    };
    let kind = match b.kind.as_deref() {
        Some("openai") => BackendKind::OpenAi,
        Some("ollama") => BackendKind::Ollama,
        Some("mock") => BackendKind::Mock,
        Some(other) => {
            p(
                at("kind"),
                format!("`{other}` is not one of openai, ollama, mock"),
            );
            return None;
        }
        None => {
            p(at("kind"), "is required (openai, ollama or mock)".into());
            return None;
        }
    };
    let lifecycle = b
        .lifecycle
        .and_then(|l| super::lifecycle::validate(l, kind, b.url.as_deref(), &at, p));
    // Managed backends learn their URL when they start; theirs may hold `{port}`.
    let managed = lifecycle.as_ref().is_some_and(|l| l.is_managed());
    let url = match (&b.url, kind) {
        (None, BackendKind::Mock) => None,
        (None, _) if managed => None,
        (None, _) => {
            p(
                at("url"),
                format!("is required for a `{}` backend", kind.as_str()),
            );
            None
        }
        (Some(u), _) => {
            match url::Url::parse(&u.replace("{port}", if managed { "1" } else { "{port}" })) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    Some(u.trim_end_matches('/').to_string())
                }
                Ok(_) => {
                    p(at("url"), format!("`{u}` must be an http or https URL"));
                    None
                }
                Err(e) => {
                    p(at("url"), format!("`{u}` is not a URL: {e}"));
                    None
                }
            }
        }
    };
    let api_key = b.api_key.as_deref().and_then(|r| {
        secret::resolve(r, env)
            .map_err(|e| p(at("api_key"), e))
            .ok()
    });
    if b.mock.is_some() && kind != BackendKind::Mock {
        p(
            at("mock"),
            "only applies to `kind = \"mock\"` backends".into(),
        );
    }
    let mut mock = MockSettings::default();
    if let Some(m) = b.mock {
        match m.mode.as_deref() {
            None | Some("echo") => mock.mode = MockMode::Echo,
            Some("fixed") => mock.mode = MockMode::Fixed,
            Some(other) => p(
                at("mock.mode"),
                format!("`{other}` is not `echo` or `fixed`"),
            ),
        }
        if let Some(t) = m.text {
            mock.text = t;
        }
        if let Some(t) = m.tokens {
            mock.tokens = t;
        }
        mock.ttft = duration(m.ttft.as_deref(), &at("mock.ttft"), mock.ttft, p);
        mock.token_delay = duration(
            m.token_delay.as_deref(),
            &at("mock.token_delay"),
            mock.token_delay,
            p,
        );
        if let Some(d) = m.embedding_dims {
            if d == 0 || d > 65_536 {
                p(
                    at("mock.embedding_dims"),
                    "must be between 1 and 65536".into(),
                );
            }
            mock.embedding_dims = d;
        }
    }
    let transport = super::transport::validate(
        &super::transport::RawTransport {
            head_timeout: b.head_timeout.as_deref(),
            proxy: b.proxy.as_deref(),
            ca_file: b.ca_file.as_deref(),
            client_cert: b.client_cert.as_deref(),
            client_key: b.client_key.as_deref(),
        },
        &at,
        env,
        p,
    );
    Some(BackendSettings {
        connect_timeout: duration(
            b.connect_timeout.as_deref(),
            &at("connect_timeout"),
            Duration::from_secs(5),
            p,
        ),
        request_timeout: duration(
            b.request_timeout.as_deref(),
            &at("request_timeout"),
            Duration::from_secs(600),
            p,
        ),
        idle_timeout: duration(
            b.idle_timeout.as_deref(),
            &at("idle_timeout"),
            Duration::from_secs(60),
            p,
        ),
        name,
        kind,
        url,
        api_key,
        headers: b.headers,
        transport,
        mock,
        lifecycle,
        redact_secrets: b.redact_secrets,
    })
}

fn model(
    m: RawModel,
    i: usize,
    backends: &BTreeSet<String>,
    p: &mut impl FnMut(String, String),
) -> Option<ModelSettings> {
    let at = |k: &str| format!("models[{i}].{k}");
    let Some(name) = m.name.filter(|n| !n.trim().is_empty()) else {
        p(at("name"), "is required".into());
        return None;
    };
    let (key, replicas) = match (m.backend, m.backends) {
        (Some(b), None) => ("backend", vec![b]),
        (None, Some(list)) if !list.is_empty() => ("backends", list),
        (Some(_), Some(_)) => {
            p(
                at("backends"),
                "set `backend` or `backends`, not both".into(),
            );
            return None;
        }
        _ => {
            p(at("backend"), "is required".into());
            return None;
        }
    };
    for b in &replicas {
        if !backends.contains(b) {
            p(at(key), format!("no backend named `{b}`"));
            return None;
        }
    }
    let backend = replicas[0].clone();
    let upstream = m.upstream.unwrap_or_else(|| name.clone());
    let prompt = m
        .prompt
        .unwrap_or_default()
        .resolve(&upstream, None)
        .unwrap_or_else(|e| {
            p(at(&format!("prompt.{}", e.field())), e.to_string());
            devassist_core::prompt::PromptProfile::for_family(
                devassist_core::prompt::PromptFamily::GenericChat,
            )
        });
    // Without an explicit list: completion, plus insert when the family has FIM tokens.
    let default_caps = if prompt.is_fim() {
        vec!["completion".to_string(), "insert".to_string()]
    } else {
        vec!["completion".to_string()]
    };
    let mut capabilities = Vec::new();
    for c in m.capabilities.unwrap_or(default_caps) {
        match Capability::parse(&c) {
            Some(cap) => capabilities.push(cap),
            None => p(
                at("capabilities"),
                format!(
                    "`{c}` is not one of completion, insert, tools, vision, embedding, thinking"
                ),
            ),
        }
    }
    capabilities.sort();
    capabilities.dedup();
    for (k, alias) in m.aliases.iter().enumerate() {
        if crate::router::is_pattern(alias)
            && let Err(e) = crate::router::compile_pattern(alias)
        {
            p(
                at(&format!("aliases[{k}]")),
                format!("`{alias}` is not a glob pattern: {e}"),
            );
        }
    }
    let context_length = m.context_length.unwrap_or(8192);
    if context_length == 0 {
        p(at("context_length"), "must be greater than 0".into());
    }
    Some(ModelSettings {
        upstream,
        prompt,
        name,
        backend,
        backends: replicas,
        aliases: m.aliases,
        capabilities,
        context_length,
    })
}

/// `server.max_connections`, `server.max_in_flight` and `server.body_timeout`.
fn server_limits(
    raw: &super::raw::RawServer,
    p: &mut impl FnMut(String, String),
) -> (Option<usize>, Option<usize>, Duration) {
    const MOST: u64 = 1_000_000;
    let mut count = |key: &str, value: Option<u64>| {
        let v = value?;
        if v == 0 || v > MOST {
            p(
                format!("server.{key}"),
                format!("must be between 1 and {MOST}"),
            );
            return None;
        }
        usize::try_from(v).ok()
    };
    let connections = count("max_connections", raw.max_connections);
    let in_flight = count("max_in_flight", raw.max_in_flight);
    if let (Some(c), Some(f)) = (connections, in_flight)
        && f > c
    {
        p(
            "server.max_in_flight".into(),
            format!(
                "must not exceed server.max_connections ({c}): each request needs a connection"
            ),
        );
    }
    let body_timeout = duration(
        raw.body_timeout.as_deref(),
        "server.body_timeout",
        Duration::from_secs(30),
        p,
    );
    if body_timeout.is_zero() {
        p(
            "server.body_timeout".into(),
            "must be greater than 0".into(),
        );
    }
    (connections, in_flight, body_timeout)
}

pub(super) fn duration(
    raw: Option<&str>,
    path: &str,
    default: Duration,
    p: &mut impl FnMut(String, String),
) -> Duration {
    match raw {
        None => default,
        Some(s) => humantime::parse_duration(s).unwrap_or_else(|e| {
            p(
                path.into(),
                format!("`{s}` is not a duration like `30s` or `5m`: {e}"),
            );
            default
        }),
    }
}

/// Accepts `level` or a comma list of `target=level` directives.
fn tracing_level_invalid(level: &str) -> bool {
    level.trim().is_empty()
        || level.split(',').any(|d| {
            let lvl = d.rsplit('=').next().unwrap_or(d).trim();
            lvl.parse::<tracing::level_filters::LevelFilter>().is_err()
        })
}
