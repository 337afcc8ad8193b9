//! `[backends.lifecycle]` and `[[models]] backends` validation, through the whole loader.

use crate::config::lifecycle::ProviderSettings;
use crate::config::{ConfigError, Settings, from_str};
use crate::pool::OnCold;
use std::time::Duration;

fn check(text: &str) -> Result<Settings, ConfigError> {
    from_str(text, &[], &|_| None)
}

fn problems(text: &str) -> Vec<String> {
    match check(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn process_with_port_placeholder_gets_url_and_probe() -> Result<(), ConfigError> {
    let s = check(
        r#"
[[backends]]
name = "llama"
kind = "openai"
[backends.lifecycle]
command = "llama-server -m '{model}' --port {port} --host 127.0.0.1"
model = "/models/my model.gguf"
env = { CUDA_VISIBLE_DEVICES = "0" }
idle_timeout = "never"
on_cold = "reject"
max_concurrent = 4
max_queue = 16

[[models]]
name = "m"
backends = ["llama"]
"#,
    )?;
    let l = s.backends[0].lifecycle.as_ref().expect("lifecycle");
    assert!(l.is_managed());
    assert_eq!(l.idle_timeout, None);
    assert_eq!(l.wake_timeout, Duration::from_secs(600));
    assert_eq!(l.on_cold, OnCold::Reject);
    assert_eq!(l.limits.max_concurrent, Some(4));
    let ProviderSettings::Process(p) = &l.provider else {
        panic!("not a process: {:?}", l.provider)
    };
    assert_eq!(p.program.to_str(), Some("llama-server"));
    assert_eq!(
        p.args,
        [
            "-m",
            "/models/my model.gguf",
            "--port",
            "{port}",
            "--host",
            "127.0.0.1"
        ]
    );
    assert_eq!(p.url.as_deref(), Some("http://127.0.0.1:{port}/v1"));
    assert_eq!(
        p.ready_url.as_deref(),
        Some("http://127.0.0.1:{port}/v1/models")
    );
    assert_eq!(p.ready_line, None);
    assert_eq!(s.models[0].backends, ["llama"]);
    assert_eq!(s.models[0].backend, "llama");
    Ok(())
}

#[test]
fn ready_line_process_and_command_hooks() -> Result<(), ConfigError> {
    let s = check(
        r#"
[[backends]]
name = "engine"
kind = "openai"
[backends.lifecycle]
command = ["devassist", "engine", "--listen", "127.0.0.1:0"]
ready_line = "listening on "

[[backends]]
name = "vm"
kind = "ollama"
url = "http://10.0.0.5:11434"
[backends.lifecycle]
start = "gcloud compute instances start gpu-1"
stop = "gcloud compute instances stop gpu-1"
status = "curl -fsS http://10.0.0.5:11434/api/version"
status_interval = "10s"

[[backends]]
name = "remote"
kind = "openai"
url = "http://vllm:8000/v1"
[backends.lifecycle]
max_concurrent = 8

[[models]]
name = "m"
backends = ["engine", "vm", "remote"]
"#,
    )?;
    let ProviderSettings::Process(p) = &s.backends[0].lifecycle.as_ref().expect("l").provider
    else {
        panic!("engine is a process")
    };
    assert_eq!((p.url.as_deref(), p.ready_url.as_deref()), (None, None));
    assert_eq!(p.api_path, "/v1");
    let ProviderSettings::Command(c) = &s.backends[1].lifecycle.as_ref().expect("l").provider
    else {
        panic!("vm uses command hooks")
    };
    assert_eq!(c.url.as_deref(), Some("http://10.0.0.5:11434"));
    assert_eq!(c.api_path, "");
    assert_eq!(c.status_interval, Duration::from_secs(10));
    assert_eq!(c.ready_timeout, Duration::from_secs(600));
    let remote = s.backends[2].lifecycle.as_ref().expect("l");
    assert!(!remote.is_managed());
    assert_eq!(remote.limits.max_concurrent, Some(8));
    Ok(())
}

#[test]
fn lifecycle_problems_name_their_keys() {
    let found = problems(
        r#"
[[backends]]
name = "a"
kind = "openai"
url = "http://x/v1"
[backends.lifecycle]
idle_timeout = "5m"
start = "true"
provider = "always_on"

[[backends]]
name = "b"
kind = "openai"
[backends.lifecycle]
provider = "process"
on_cold = "panic"
max_concurrent = 0

[[backends]]
name = "c"
kind = "mock"
[backends.lifecycle]
command = "x --port {port}"

[[backends]]
name = "d"
kind = "openai"
[backends.lifecycle]
command = "server --model {model}"

[[backends]]
name = "e"
kind = "openai"
url = "http://127.0.0.1:{port}/v1"

[[models]]
name = "m"
backend = "a"
backends = ["a"]

[[models]]
name = "n"
backends = ["a", "zzz"]
"#,
    );
    for expected in [
        "backends[0].lifecycle.idle_timeout: only applies to `process` and `command` providers",
        "backends[0].lifecycle.start: only applies to `provider = \"command\"`",
        "backends[1].lifecycle.on_cold: `panic` is not `hold` or `reject`",
        "backends[1].lifecycle.max_concurrent: must be greater than 0",
        "backends[1].lifecycle.command: is required for `provider = \"process\"`",
        "backends[2].lifecycle.provider: a mock backend runs inside devassist",
        "backends[3].lifecycle.model: is required: the command uses `{model}`",
        "backends[3].lifecycle.command: devassist cannot tell where the process listens",
        "backends[4].url: `http://127.0.0.1:{port}/v1` is not a URL",
        "models[0].backends: set `backend` or `backends`, not both",
        "models[1].backends: no backend named `zzz`",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "missing `{expected}` in {found:#?}"
        );
    }
}

#[test]
fn scale_to_zero_recipes_are_valid() {
    let doc = include_str!("../../../../docs/scale-to-zero.md");
    let mut checked = 0;
    for block in doc.split("```toml").skip(1) {
        let Some((toml, _)) = block.split_once("```") else {
            continue;
        };
        // The replicas snippet shows only a model; every other block is a whole backend.
        if !toml.contains("[[backends]]") {
            continue;
        }
        if let Err(e) = check(toml) {
            panic!("docs/scale-to-zero.md recipe is invalid:\n{e}\n---\n{toml}");
        }
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} recipes checked");
}

#[test]
fn external_waits_on_the_backend_probe_and_needs_a_url() -> Result<(), ConfigError> {
    let s = check(
        r#"
[[backends]]
name = "gpu"
kind = "openai"
url = "http://vllm.llm.svc:8000/v1/"
[backends.lifecycle]
provider = "external"
wake_timeout = "3m"
idle_timeout = "2m"

[[backends]]
name = "ollama"
kind = "ollama"
url = "http://ollama:11434"
[backends.lifecycle]
provider = "external"
ready_url = "http://ollama:11434/"
ready_interval = "250ms"

[[models]]
name = "m"
backends = ["gpu", "ollama"]
"#,
    )?;
    let l = s.backends[0].lifecycle.as_ref().expect("lifecycle");
    assert!(l.is_managed());
    assert_eq!(l.idle_timeout, Some(Duration::from_secs(120)));
    let ProviderSettings::External(e) = &l.provider else {
        panic!("not external: {:?}", l.provider)
    };
    assert_eq!(e.url, "http://vllm.llm.svc:8000/v1");
    assert_eq!(e.ready_url, "http://vllm.llm.svc:8000/v1/models");
    assert_eq!(e.ready_interval, Duration::from_secs(1));
    assert_eq!(e.ready_timeout, Duration::from_secs(180));
    let l = s.backends[1].lifecycle.as_ref().expect("lifecycle");
    let ProviderSettings::External(e) = &l.provider else {
        panic!("not external: {:?}", l.provider)
    };
    assert_eq!(e.ready_url, "http://ollama:11434/");
    assert_eq!(e.ready_interval, Duration::from_millis(250));

    let found = problems(
        r#"
[[backends]]
name = "a"
kind = "openai"
[backends.lifecycle]
provider = "external"

[[backends]]
name = "b"
kind = "openai"
url = "http://b:8000/v1"
[backends.lifecycle]
provider = "external"
command = "vllm serve x"
start = "true"
env = { A = "1" }

[[models]]
name = "m"
backends = ["a", "b"]
"#,
    );
    for expected in [
        "backends[0].url: is required for `provider = \"external\"`",
        "backends[1].lifecycle.command: only applies to `provider = \"process\"`",
        "backends[1].lifecycle.start: only applies to `provider = \"command\"`",
        "backends[1].lifecycle.env: only applies to `process` and `command` providers",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "missing `{expected}` in {found:#?}"
        );
    }
    Ok(())
}
