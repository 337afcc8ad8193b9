//! A real `redis-server` for tests, started on a free loopback port in a temporary
//! directory, without persistence, and killed on drop.
//!
//! Without redis-server the tests say SKIPPED and pass, unless `DEVASSIST_REQUIRE_TOOLS` is
//! set (`make test` sets it): there a skipped test would pass without having checked
//! anything. `scripts/setup.sh` installs it (Debian's `redis-server`).

use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<tokio::process::Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A running server; `None` (after saying so) when redis-server is not installed and
    /// not required.
    pub async fn start() -> Option<RedisServer> {
        let installed = std::process::Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            let hint = "redis-server is not installed: scripts/setup.sh installs it";
            assert!(
                std::env::var_os("DEVASSIST_REQUIRE_TOOLS").is_none(),
                "{hint} (DEVASSIST_REQUIRE_TOOLS is set)"
            );
            eprintln!("SKIPPED: {hint}");
            return None;
        }
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir: tempfile::tempdir().unwrap(),
        };
        let hasher = RandomState::new();
        // A port taken by something else makes redis-server exit: another one is tried.
        for attempt in 0u64..10 {
            server.port = 20_000 + (hasher.hash_one(attempt) % 12_000) as u16;
            if server.run().await {
                return Some(server);
            }
        }
        panic!("redis-server could not get a port in 10 tries");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join(format!("redis-{}.log", self.port))
    }

    /// Starts redis-server on `self.port`; false when the port was taken.
    async fn run(&mut self) -> bool {
        let log = self.log();
        let _ = std::fs::remove_file(&log);
        let mut child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Ready to accept connections") {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().unwrap().is_some() {
                assert!(
                    text.contains("already in use"),
                    "redis-server did not start: {text}"
                );
                return false;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start: {text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills the server, as a crash or a network cut would look to the gateway.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop().await;
        assert!(self.run().await, "port {} was taken meanwhile", self.port);
    }
}
