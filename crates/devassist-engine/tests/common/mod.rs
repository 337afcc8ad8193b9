//! Test harness: start the real `devassist-engine` binary on the default model, wait for its
//! readiness line, talk to it over HTTP (hyper-util's client, as the gateway), kill it on
//! drop. Engines run one at a time (a shared
//! lock): two engines on a 2-core machine would only slow each other down.

#![allow(dead_code, reason = "each test file uses a different subset")]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Longest a test waits for one answer.
const TIMEOUT: Duration = Duration::from_secs(600);

pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const BIN: &str = env!("CARGO_BIN_EXE_devassist-engine");

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The default model, or `None` (with a message saying how to get it) when it is missing.
/// Under `make test` (`DEVASSIST_REQUIRE_MODEL=1`) a missing model fails the test instead:
/// there, a skipped engine test would pass without having checked anything.
pub fn model_path() -> Option<PathBuf> {
    let path = devassist_gguf::models_dir(None).join(MODEL_FILE);
    if path.exists() {
        return Some(path);
    }
    let hint = format!(
        "{} is missing; run scripts/fetch-default-model.sh",
        path.display()
    );
    assert!(
        std::env::var_os("DEVASSIST_REQUIRE_MODEL").is_none(),
        "{hint}"
    );
    eprintln!("SKIPPED: {hint}");
    None
}

/// A running engine process.
pub struct Engine {
    child: Child,
    pub url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _turn: MutexGuard<'static, ()>,
}

impl Engine {
    /// Start the engine on the default model with extra flags; `None` when the model is missing.
    pub fn start(extra: &[&str]) -> Result<Option<Self>, Box<dyn std::error::Error>> {
        let Some(model) = model_path() else {
            return Ok(None);
        };
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new(BIN)
            .arg("--model")
            .arg(&model)
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("devassist-engine listening on ")
            .ok_or_else(|| format!("unexpected readiness line {line:?}"))?
            .to_string();
        Ok(Some(Self {
            child,
            url,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _turn: turn,
        }))
    }

    /// Sends a request and waits for the response head.
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> AnyResult<http::Response<Incoming>> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(Full::new(body.into()))?;
        Ok(tokio::time::timeout(TIMEOUT, self.client.request(request)).await??)
    }

    /// POSTs a body as it is: status and JSON answer.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> AnyResult<(u16, Json)> {
        let body = Bytes::copy_from_slice(body.as_bytes());
        let resp = self
            .send(http::Method::POST, path, content_type, body)
            .await?;
        json_of(resp).await
    }

    /// POSTs JSON and opens the answer's body, not read yet.
    pub async fn open(&self, path: &str, body: &Json) -> AnyResult<Incoming> {
        let body = serde_json::to_vec(body)?;
        let resp = self
            .send(http::Method::POST, path, "application/json", body)
            .await?;
        Ok(resp.into_body())
    }

    pub async fn post(&self, path: &str, body: &Json) -> AnyResult<(u16, Json)> {
        let body = serde_json::to_vec(body)?;
        let resp = self
            .send(http::Method::POST, path, "application/json", body)
            .await?;
        json_of(resp).await
    }

    pub async fn get(&self, path: &str) -> AnyResult<(u16, Json)> {
        let resp = self
            .send(http::Method::GET, path, "application/json", Bytes::new())
            .await?;
        json_of(resp).await
    }

    /// POST and return the `data:` payloads of the SSE answer, in order.
    pub async fn stream(&self, path: &str, body: &Json) -> AnyResult<Vec<String>> {
        let body = serde_json::to_vec(body)?;
        let resp = self
            .send(http::Method::POST, path, "application/json", body)
            .await?;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let text = String::from_utf8(read_body(resp.into_body()).await?.to_vec())?;
        let mut frames = Vec::new();
        // Comments (`:`) are the keep-alives sent after 15 s without a token (a long
        // prefill on a busy machine): not events, as SSE clients skip them.
        let comment = |e: &str| e.lines().all(|l| l.starts_with(':'));
        for event in text.split("\n\n").filter(|e| !e.is_empty() && !comment(e)) {
            let data = event
                .strip_prefix("data: ")
                .ok_or_else(|| format!("not a data event: {event:?}"))?;
            frames.push(data.to_string());
        }
        Ok(frames)
    }

    /// Chat answer text for one user message, greedy.
    pub async fn chat(
        &self,
        user: &str,
        max_tokens: u32,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let body = serde_json::json!({
            "messages": [{"role": "user", "content": user}],
            "temperature": 0,
            "max_tokens": max_tokens,
        });
        let (status, json) = self.post("/v1/chat/completions", &body).await?;
        assert_eq!(status, 200, "{json}");
        Ok(json["choices"][0]["message"]["content"]
            .as_str()
            .ok_or("no content")?
            .to_string())
    }

    /// Completion text (and the whole answer), greedy.
    pub async fn complete(
        &self,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<(String, Json), Box<dyn std::error::Error>> {
        let body =
            serde_json::json!({"prompt": prompt, "temperature": 0, "max_tokens": max_tokens});
        let (status, json) = self.post("/v1/completions", &body).await?;
        assert_eq!(status, 200, "{json}");
        Ok((
            json["choices"][0]["text"]
                .as_str()
                .ok_or("no text")?
                .to_string(),
            json,
        ))
    }
}

/// The status and JSON body of an answer.
async fn json_of(resp: http::Response<Incoming>) -> AnyResult<(u16, Json)> {
    let status = resp.status().as_u16();
    let body = read_body(resp.into_body()).await?;
    Ok((status, serde_json::from_slice(&body)?))
}

async fn read_body(body: Incoming) -> AnyResult<Bytes> {
    Ok(tokio::time::timeout(TIMEOUT, body.collect())
        .await??
        .to_bytes())
}

impl Engine {
    /// Send SIGTERM, as a supervisor stopping the engine does.
    pub fn terminate(&self) -> Result<(), Box<dyn std::error::Error>> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        assert!(status.success(), "kill failed: {status}");
        Ok(())
    }

    /// Wait up to `limit` for the process to exit; `None` if it is still running.
    pub fn wait_exit(
        &mut self,
        limit: Duration,
    ) -> Result<Option<std::process::ExitStatus>, Box<dyn std::error::Error>> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if start.elapsed() > limit {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the binary to completion (for start-up failures): exit code, stdout, stderr.
pub fn run_binary(
    args: &[&str],
) -> Result<(Option<i32>, String, String), Box<dyn std::error::Error>> {
    let out = Command::new(BIN).args(args).output()?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
