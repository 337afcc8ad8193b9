//! `[backends.lifecycle]`: how a backend runs — always on, a process devassist starts,
//! operator hooks, or an external scaler — with its idle/wake policy and its request limits. The raw form, the
//! validated form (the pool's own runtime specs) and the validation between them live here;
//! `build.rs` turns them into pool slots.

use super::settings::BackendKind;
use super::validate::duration;
use crate::pool::command::CommandSpec;
use crate::pool::external::ExternalSpec;
use crate::pool::process::ProcessSpec;
use crate::pool::{Limits, OnCold};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
pub struct RawLifecycle {
    /// `always_on`, `process`, `command` or `external` (an external scaler such as KEDA
    /// starts the backend; devassist waits for `ready_url`). Default: `process` when
    /// `command` is set, `command` when `start` is set, else `always_on`.
    pub provider: Option<String>,
    /// `process`: the program and its arguments, as a list or as one string split like a
    /// shell would (no shell runs it). `{port}` is replaced by a port devassist picks for each
    /// start, `{model}` by `model`.
    pub command: Option<RawCommandLine>,
    /// `process`: the value of `{model}` (a model file or name).
    pub model: Option<String>,
    /// `process`, `command`: environment variables for the process or hooks; values may use
    /// `{port}` and `{model}` (process).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `process`, `command`: working directory.
    pub cwd: Option<String>,
    /// `process`: text on a stdout or stderr line that says the process is ready. When a URL
    /// follows it, the process chose its own port and that is where it listens.
    pub ready_line: Option<String>,
    /// `process`, `external`: URL polled until it answers 200 (`{port}` allowed for
    /// `process`). Default, when there is no `ready_line`: the backend URL plus `/models`
    /// (openai) or `/api/version` (ollama).
    pub ready_url: Option<String>,
    /// `process`, `external`: time between two readiness probes. Default `10ms` (`process`),
    /// `1s` (`external`).
    pub ready_interval: Option<String>,
    /// `process`, `command`: appended to a URL the process or a hook prints to form the
    /// backend URL. Default `/v1` for openai backends, empty for ollama.
    pub api_path: Option<String>,
    /// `command`: shell command that starts the backend; the last `http(s)://` line it
    /// prints is the backend's root URL (else the backend's `url` is used).
    pub start: Option<String>,
    /// `command`: shell command that stops the backend.
    pub stop: Option<String>,
    /// `command`: shell command that exits 0 once the backend is ready; polled after `start`.
    pub status: Option<String>,
    /// `command`: time allowed to each hook run. Defaults `10m`, `5m`, `30s`.
    pub start_timeout: Option<String>,
    pub stop_timeout: Option<String>,
    pub status_timeout: Option<String>,
    /// `command`: time between two `status` runs while waiting. Default `5s`.
    pub status_interval: Option<String>,
    /// `process`, `command`, `external`: stop after this long without requests (`external`:
    /// stop counting it as wanted); `never` keeps it running. Default `5m`, like Ollama's
    /// keep_alive.
    pub idle_timeout: Option<String>,
    /// `process`, `command`, `external`: longest a request waits for the backend to start.
    /// Default `10m`.
    pub wake_timeout: Option<String>,
    /// `process`: time between SIGTERM and SIGKILL when stopping. Default `10s`.
    pub stop_grace: Option<String>,
    /// `process`, `command`, `external`: `hold` (wait for the start, default) or `reject`
    /// (503 with Retry-After while it starts).
    pub on_cold: Option<String>,
    /// Requests the backend serves at once. Default unlimited.
    pub max_concurrent: Option<u32>,
    /// Requests that may wait for the backend (for a free slot or for its start); beyond
    /// that, 503. Default unlimited.
    pub max_queue: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCommandLine {
    Line(String),
    Args(Vec<String>),
}

/// How a backend runs, validated.
#[derive(Debug, Clone)]
pub struct BackendLifecycle {
    pub provider: ProviderSettings,
    /// `None` keeps it running.
    pub idle_timeout: Option<Duration>,
    pub wake_timeout: Duration,
    pub stop_grace: Duration,
    pub on_cold: OnCold,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub enum ProviderSettings {
    AlwaysOn,
    Process(ProcessSpec),
    Command(CommandSpec),
    External(ExternalSpec),
}

impl BackendLifecycle {
    /// Whether devassist starts and stops this backend.
    pub fn is_managed(&self) -> bool {
        !matches!(self.provider, ProviderSettings::AlwaysOn)
    }
}

/// Validates `raw` for a backend of `kind` whose `url` is `url`. Problems are reported under
/// `at("lifecycle.KEY")`.
pub fn validate(
    raw: RawLifecycle,
    kind: BackendKind,
    url: Option<&str>,
    at: &dyn Fn(&str) -> String,
    p: &mut impl FnMut(String, String),
) -> Option<BackendLifecycle> {
    let key = |k: &str| at(&format!("lifecycle.{k}"));
    let provider = match raw.provider.as_deref() {
        Some(name @ ("always_on" | "process" | "command" | "external")) => name,
        Some(other) => {
            p(
                key("provider"),
                format!("`{other}` is not one of always_on, process, command, external"),
            );
            return None;
        }
        None if raw.command.is_some() => "process",
        None if raw.start.is_some() => "command",
        None => "always_on",
    };
    let process_keys = [
        ("command", raw.command.is_some()),
        ("model", raw.model.is_some()),
        ("ready_line", raw.ready_line.is_some()),
        ("ready_url", raw.ready_url.is_some()),
        ("ready_interval", raw.ready_interval.is_some()),
        ("stop_grace", raw.stop_grace.is_some()),
    ];
    let command_keys = [
        ("start", raw.start.is_some()),
        ("stop", raw.stop.is_some()),
        ("status", raw.status.is_some()),
        ("start_timeout", raw.start_timeout.is_some()),
        ("stop_timeout", raw.stop_timeout.is_some()),
        ("status_timeout", raw.status_timeout.is_some()),
        ("status_interval", raw.status_interval.is_some()),
    ];
    let launch_keys = [
        ("env", !raw.env.is_empty()),
        ("cwd", raw.cwd.is_some()),
        ("api_path", raw.api_path.is_some()),
    ];
    let managed_keys = [
        ("idle_timeout", raw.idle_timeout.is_some()),
        ("wake_timeout", raw.wake_timeout.is_some()),
        ("on_cold", raw.on_cold.is_some()),
    ];
    let mut misplaced = |keys: &[(&str, bool)], applies: &str| {
        for (k, set) in keys {
            if *set {
                p(key(k), format!("only applies to {applies}"));
            }
        }
    };
    match provider {
        "always_on" => {
            misplaced(&process_keys, "`provider = \"process\"`");
            misplaced(&command_keys, "`provider = \"command\"`");
            misplaced(&launch_keys, "`process` and `command` providers");
            misplaced(
                &managed_keys,
                "`process` and `command` providers and to `external`",
            );
        }
        "process" => misplaced(&command_keys, "`provider = \"command\"`"),
        "external" => {
            // Readiness is the only process setting that applies: nothing is launched.
            let launch = process_keys
                .iter()
                .filter(|(k, _)| !matches!(*k, "ready_url" | "ready_interval"));
            misplaced(
                &launch.copied().collect::<Vec<_>>(),
                "`provider = \"process\"`",
            );
            misplaced(&command_keys, "`provider = \"command\"`");
            misplaced(&launch_keys, "`process` and `command` providers");
        }
        _ => misplaced(&process_keys, "`provider = \"process\"`"),
    }
    if kind == BackendKind::Mock && provider != "always_on" {
        p(
            key("provider"),
            "a mock backend runs inside devassist; only `always_on` applies".into(),
        );
        return None;
    }
    if raw.max_concurrent == Some(0) {
        p(key("max_concurrent"), "must be greater than 0".into());
    }
    let limits = Limits {
        max_concurrent: raw.max_concurrent,
        max_queue: raw.max_queue,
    };
    let idle_timeout = match raw.idle_timeout.as_deref().map(str::trim) {
        Some("never" | "forever" | "-1") => None,
        other => Some(duration(
            other,
            &key("idle_timeout"),
            Duration::from_secs(300),
            p,
        )),
    };
    let wake_timeout = duration(
        raw.wake_timeout.as_deref(),
        &key("wake_timeout"),
        Duration::from_secs(600),
        p,
    );
    let stop_grace = duration(
        raw.stop_grace.as_deref(),
        &key("stop_grace"),
        Duration::from_secs(10),
        p,
    );
    let on_cold = match raw.on_cold.as_deref() {
        None | Some("hold") => OnCold::Hold,
        Some("reject") => OnCold::Reject,
        Some(other) => {
            p(
                key("on_cold"),
                format!("`{other}` is not `hold` or `reject`"),
            );
            OnCold::Hold
        }
    };
    let api_path = raw.api_path.clone().unwrap_or_else(|| match kind {
        BackendKind::OpenAi => "/v1".into(),
        _ => String::new(),
    });
    let env: Vec<(String, String)> = raw.env.clone().into_iter().collect();
    let cwd = raw.cwd.clone().map(Into::into);
    let provider = match provider {
        "always_on" => ProviderSettings::AlwaysOn,
        "process" => {
            let base = Base {
                kind,
                url,
                wake_timeout,
                api_path,
                env,
                cwd,
            };
            ProviderSettings::Process(process(raw, base, &key, p)?)
        }
        "external" => ProviderSettings::External(external(
            &raw,
            kind,
            url,
            wake_timeout,
            &key,
            &at("url"),
            p,
        )?),
        _ => {
            let Some(start) = raw.start.filter(|s| !s.trim().is_empty()) else {
                p(
                    key("start"),
                    "is required for `provider = \"command\"`".into(),
                );
                return None;
            };
            ProviderSettings::Command(CommandSpec {
                start,
                stop: raw.stop,
                status: raw.status,
                start_timeout: duration(
                    raw.start_timeout.as_deref(),
                    &key("start_timeout"),
                    Duration::from_secs(600),
                    p,
                ),
                stop_timeout: duration(
                    raw.stop_timeout.as_deref(),
                    &key("stop_timeout"),
                    Duration::from_secs(300),
                    p,
                ),
                status_timeout: duration(
                    raw.status_timeout.as_deref(),
                    &key("status_timeout"),
                    Duration::from_secs(30),
                    p,
                ),
                status_interval: duration(
                    raw.status_interval.as_deref(),
                    &key("status_interval"),
                    Duration::from_secs(5),
                    p,
                ),
                ready_timeout: wake_timeout,
                env,
                cwd,
                url: url.map(|u| u.trim_end_matches('/').to_string()),
                api_path,
            })
        }
    };
    Some(BackendLifecycle {
        provider,
        idle_timeout,
        wake_timeout,
        stop_grace,
        on_cold,
        limits,
    })
}

/// An `external` backend: its URL is required (the scaler's Service or revision URL) and
/// `ready_url` defaults to the backend's own probe path.
fn external(
    raw: &RawLifecycle,
    kind: BackendKind,
    url: Option<&str>,
    wake_timeout: Duration,
    key: &dyn Fn(&str) -> String,
    url_key: &str,
    p: &mut impl FnMut(String, String),
) -> Option<ExternalSpec> {
    let Some(url) = url.map(|u| u.trim_end_matches('/').to_string()) else {
        p(
            url_key.to_string(),
            "is required for `provider = \"external\"`: where the scaled backend answers".into(),
        );
        return None;
    };
    let ready_url = raw.ready_url.clone().unwrap_or_else(|| match kind {
        BackendKind::Ollama => format!("{url}/api/version"),
        _ => format!("{url}/models"),
    });
    if url::Url::parse(&ready_url).is_err() {
        p(key("ready_url"), format!("`{ready_url}` is not a URL"));
        return None;
    }
    Some(ExternalSpec {
        url,
        ready_url,
        ready_interval: duration(
            raw.ready_interval.as_deref(),
            &key("ready_interval"),
            Duration::from_secs(1),
            p,
        ),
        ready_timeout: wake_timeout,
    })
}

/// What a `process` spec shares with the rest of the backend's settings.
struct Base<'a> {
    kind: BackendKind,
    url: Option<&'a str>,
    wake_timeout: Duration,
    api_path: String,
    env: Vec<(String, String)>,
    cwd: Option<std::path::PathBuf>,
}

fn process(
    raw: RawLifecycle,
    base: Base<'_>,
    key: &dyn Fn(&str) -> String,
    p: &mut impl FnMut(String, String),
) -> Option<ProcessSpec> {
    let words = match raw.command {
        None => {
            p(
                key("command"),
                "is required for `provider = \"process\"`".into(),
            );
            return None;
        }
        Some(RawCommandLine::Args(a)) => a,
        Some(RawCommandLine::Line(l)) => match shlex::split(&l) {
            Some(w) => w,
            None => {
                p(key("command"), "has unbalanced quotes".into());
                return None;
            }
        },
    };
    let Some((program, args)) = words.split_first() else {
        p(key("command"), "is empty".into());
        return None;
    };
    let model = raw.model;
    let uses = |needle: &str| {
        words.iter().any(|w| w.contains(needle))
            || base.env.iter().any(|(_, v)| v.contains(needle))
            || raw.ready_url.as_deref().is_some_and(|u| u.contains(needle))
    };
    if model.is_none() && uses("{model}") {
        p(
            key("model"),
            "is required: the command uses `{model}`".into(),
        );
    }
    let fill = |s: &str| match &model {
        Some(m) => s.replace("{model}", m),
        None => s.to_string(),
    };
    let uses_port = uses("{port}") || base.url.is_some_and(|u| u.contains("{port}"));
    if raw
        .ready_line
        .as_deref()
        .is_some_and(|l| l.trim().is_empty())
    {
        p(key("ready_line"), "must not be empty".into());
    }
    let url = match base.url {
        Some(u) => Some(u.trim_end_matches('/').to_string()),
        None if uses_port => Some(format!("http://127.0.0.1:{{port}}{}", base.api_path)),
        None => None,
    };
    if url.is_none() && raw.ready_line.is_none() {
        p(
            key("command"),
            "devassist cannot tell where the process listens: use `{port}` in the command, \
             set the backend's `url`, or set a `ready_line` that carries the URL"
                .into(),
        );
        return None;
    }
    let ready_url = raw
        .ready_url
        .as_deref()
        .map(fill)
        .or_else(|| match (&raw.ready_line, &url) {
            (None, Some(u)) => Some(match base.kind {
                BackendKind::Ollama => format!("{u}/api/version"),
                _ => format!("{u}/models"),
            }),
            _ => None,
        });
    if let Some(r) = &ready_url
        && url::Url::parse(&r.replace("{port}", "1")).is_err()
    {
        p(key("ready_url"), format!("`{r}` is not a URL"));
    }
    Some(ProcessSpec {
        program: program.into(),
        args: args.iter().map(|a| fill(a)).collect(),
        env: base.env.into_iter().map(|(k, v)| (k, fill(&v))).collect(),
        cwd: base.cwd,
        ready_line: raw.ready_line,
        ready_url,
        ready_interval: duration(
            raw.ready_interval.as_deref(),
            &key("ready_interval"),
            Duration::from_millis(10),
            p,
        ),
        url,
        api_path: base.api_path,
        start_timeout: base.wake_timeout,
    })
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
