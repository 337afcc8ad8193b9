//! The processes under test: the mock upstream, devassist and LiteLLM's proxy, each
//! started with a generated config, waited on until it answers, and stopped (with its
//! whole process group) when dropped.

use crate::BoxError;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process killed with its process group on drop.
pub struct Proc {
    pub name: &'static str,
    child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(name: &'static str, mut cmd: Command) -> Result<Self, BoxError> {
        use std::os::unix::process::CommandExt;
        // Its own group, so LiteLLM's uvicorn workers go down with it.
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self { name, child })
    }

    /// Reads stdout until a line starts with `prefix`; returns the rest of that line.
    /// Stdout keeps being drained afterwards so the child never blocks on a full pipe.
    fn announced(&mut self, prefix: &'static str, within: Duration) -> Result<String, BoxError> {
        let stdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| format!("{} has no stdout", self.name))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(prefix) {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        rx.recv_timeout(within)
            .map_err(|_| format!("{} did not print `{prefix}` within {within:?}", self.name).into())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let quiet = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        quiet("-TERM");
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Usually gone by now; then this finds no process, which is fine.
        quiet("-KILL");
        let _ = self.child.wait();
    }
}

fn log_file(dir: &Path, name: &str) -> Result<Stdio, BoxError> {
    Ok(std::fs::File::create(dir.join(name))?.into())
}

/// The mock upstream: this same binary's `mock` subcommand. Returns it and its base URL.
pub fn mock(chunks: u32, interval: Duration) -> Result<(Proc, String), BoxError> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["mock", "--listen", "127.0.0.1:0", "--chunks"])
        .arg(chunks.to_string())
        .arg("--interval")
        .arg(humantime::format_duration(interval).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut proc = Proc::spawn("mock", cmd)?;
    let base = proc.announced("mock listening on ", Duration::from_secs(10))?;
    Ok((proc, base))
}

/// What a devassist under test checks before it forwards a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No authentication (loopback only): the baseline.
    Open,
    /// API keys, one key with a per-key limit held in memory.
    Keys,
    /// API keys, the per-key limit held in a Redis server at this URL (shared by replicas).
    KeysRedis,
}

/// The per-key limits of the key the auth phases send: checked on every request, never
/// reached at any rate the benchmark tries (64,000 RPS is 3.84 M requests a minute).
const KEY_LIMITS: [&str; 6] = [
    "--rpm",
    "100000000",
    "--tpm",
    "4000000000",
    "--max-parallel",
    "100000",
];

/// devassist with one `openai` backend pointing at the mock, logging at `warn`, under
/// `dir/<name>`. With `access` other than `Open`, also an API key (its bearer header),
/// created with `devassist keys create` in the gateway's own key store before it starts.
pub fn devassist(
    bin: &Path,
    upstream: &str,
    dir: &Path,
    name: &'static str,
    access: Access,
    redis_url: Option<&str>,
) -> Result<(Proc, String, Option<String>), BoxError> {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir)?;
    let auth = match (access, redis_url) {
        (Access::Open, _) => String::new(),
        (Access::Keys, _) => "\n[auth]\nmode = \"api_keys\"\n".to_owned(),
        (Access::KeysRedis, Some(url)) => format!(
            "\n[auth]\nmode = \"api_keys\"\n\n[limits]\nstore = \"redis\"\nredis_url = \"{url}\"\n\
             # A Redis that fails shows as errors, not as a fast run with unchecked limits.\n\
             on_redis_error = \"closed\"\nkey_prefix = \"bench-{pid}:\"\n",
            pid = std::process::id()
        ),
        (Access::KeysRedis, None) => return Err("the Redis phase needs a Redis URL".into()),
    };
    let config = dir.join("devassist.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Generated by bench-gateway. Logging at warn: no per-request log line. Usage records
# stay on (the default), written under the run's own folder.
[log]
level = "warn"

[server]
data_dir = "{data_dir}"
{auth}
[[backends]]
name = "mock"
kind = "openai"
url = "{upstream}/v1"

[[models]]
name = "bench"
backend = "mock"
"#,
            data_dir = dir.join("data").display()
        ),
    )?;
    let key = match access {
        Access::Open => None,
        Access::Keys | Access::KeysRedis => Some(create_key(bin, &config)?),
    };
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(log_file(&dir, "devassist.log")?);
    let mut proc = Proc::spawn(name, cmd)?;
    let base = proc.announced("devassist listening on ", Duration::from_secs(30))?;
    Ok((proc, base, key))
}

/// `devassist keys create` on the gateway's key store: the new key's secret.
fn create_key(bin: &Path, config: &Path) -> Result<String, BoxError> {
    let out = Command::new(bin)
        .arg("keys")
        .arg("--config")
        .arg(config)
        .args(["--json", "create", "--name", "bench"])
        .args(KEY_LIMITS)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "devassist keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    issued["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "devassist keys create printed no key".into())
}

/// A private `redis-server` on a free port, without persistence: the shared limit store of
/// the Redis phase. Its URL.
pub fn redis(dir: &Path) -> Result<(Proc, String), BoxError> {
    let port = free_port()?;
    let dir = dir.join("redis");
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(log_file(&dir, "redis.log")?)
        .stderr(Stdio::inherit());
    let proc = Proc::spawn("redis", cmd)?;
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err("redis-server did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((proc, format!("redis://127.0.0.1:{port}/0")))
}

/// The master key LiteLLM's proxy insists on; sent as the bearer token.
pub const LITELLM_KEY: &str = "sk-bench-master-key";

/// LiteLLM's proxy with one model routed to the mock, access log and callbacks off.
pub fn litellm(
    venv: &Path,
    upstream: &str,
    dir: &Path,
    workers: usize,
) -> Result<(Proc, String), BoxError> {
    let config = dir.join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n      api_base: {upstream}/v1\n      api_key: sk-mock\nlitellm_settings:\n  turn_off_message_logging: true\n  request_timeout: 30\ngeneral_settings:\n  disable_spend_logs: true\n"
        ),
    )?;
    // uvicorn's access log writes a line per request; route it to nothing.
    let log_config = dir.join("litellm-logging.json");
    std::fs::write(
        &log_config,
        r#"{"version":1,"disable_existing_loggers":false,"handlers":{"null":{"class":"logging.NullHandler"}},"loggers":{"uvicorn.access":{"handlers":["null"],"level":"WARNING","propagate":false},"uvicorn.error":{"level":"WARNING"},"uvicorn":{"level":"WARNING"}}}"#,
    )?;
    let port = free_port()?;
    let mut cmd = Command::new(venv.join("bin").join("litellm"));
    cmd.arg("--config")
        .arg(&config)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--num_workers", &workers.to_string()])
        .arg("--log_config")
        .arg(&log_config)
        .env("LITELLM_MASTER_KEY", LITELLM_KEY)
        .env("LITELLM_LOG", "ERROR")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .env_remove("DATABASE_URL")
        .stdout(log_file(dir, "litellm.out.log")?)
        .stderr(log_file(dir, "litellm.err.log")?);
    let proc = Proc::spawn("litellm", cmd)?;
    Ok((proc, format!("http://127.0.0.1:{port}")))
}

/// LiteLLM picks no port of its own and prints none, so find one the kernel considers
/// free. Racy in principle; a clash shows up as LiteLLM never becoming ready.
fn free_port() -> Result<u16, BoxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The installed LiteLLM version, as pip recorded it.
pub fn litellm_version(venv: &Path) -> Result<String, BoxError> {
    let out = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Where generated configs and the gateways' logs go for one run.
pub fn work_dir() -> Result<PathBuf, BoxError> {
    let dir = std::env::temp_dir().join(format!("bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
