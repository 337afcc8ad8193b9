//! The `process` and `command` providers with real child processes (`python3`, `sh`): ready
//! line and probe, a taken port retried, start-up failures and timeouts, stopping a whole
//! process group, crash detection, and the hooks.

use super::command::{CommandProvider, CommandSpec};
use super::process::{ProcessSpec, start, start_trying};
use super::provider::Provider;
use devassist_core::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A tiny HTTP server: `--port N` (0 = any, printed), answers 200 on every GET.
const SERVER: &str = r#"
import http.server, sys
port = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", port), H)
print("server listening on http://127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
"#;

fn spec(program: &str, args: &[&str]) -> ProcessSpec {
    ProcessSpec {
        program: program.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        cwd: None,
        ready_line: None,
        ready_url: None,
        ready_interval: Duration::from_millis(25),
        url: None,
        api_path: "/v1".into(),
        start_timeout: Duration::from_secs(20),
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent's bookkeeping is left.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

async fn get(url: &str) -> u16 {
    devassist_backends::http::get(url, &Default::default())
        .await
        .map(|(status, _)| status)
        .unwrap_or(0)
}

#[tokio::test]
async fn ready_line_carries_the_url_of_a_child_that_bound_port_0() {
    let mut s = spec("python3", &["-c", SERVER, "0"]);
    s.ready_line = Some("listening on ".into());
    let running = start("t", &s).await.unwrap();
    assert!(running.base_url.starts_with("http://127.0.0.1:"));
    assert!(running.base_url.ends_with("/v1"));
    assert_eq!(get(&running.base_url).await, 200);
    let pid = running.pid().unwrap();
    running.stop(Duration::from_secs(5)).await;
    assert!(!alive(pid));
}

#[tokio::test]
async fn port_placeholder_is_probed_and_a_taken_port_is_retried() {
    // Held and listening: the child's bind fails with EADDRINUSE and prints so.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let mut s = spec("python3", &["-c", SERVER, "{port}"]);
    s.url = Some("http://127.0.0.1:{port}/v1".into());
    s.ready_url = Some("http://127.0.0.1:{port}/health".into());
    let e = start_trying("t", &s, &[taken; super::ready::PORT_ATTEMPTS])
        .await
        .err()
        .unwrap();
    let detail = e.detail.unwrap_or_default();
    assert!(detail.contains("Address already in use"), "{detail}");
    let running = start_trying("t", &s, &[taken]).await.unwrap();
    assert!(!running.base_url.contains(&format!(":{taken}/")));
    assert_eq!(get(&running.base_url).await, 200);
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn exit_during_start_up_reports_the_last_lines() {
    let s = {
        let mut s = spec(
            "sh",
            &["-c", "echo loading >&2; echo 'fatal: no GPU' >&2; exit 3"],
        );
        s.ready_line = Some("listening on ".into());
        s
    };
    let e = start("t", &s).await.err().unwrap();
    assert_eq!(e.kind, ErrorKind::BackendError);
    assert_eq!(e.message, "backend `t` failed to start");
    let detail = e.detail.unwrap_or_default();
    assert!(detail.contains("exit status: 3"), "{detail}");
    assert!(detail.contains("fatal: no GPU"), "{detail}");
    let e = start("t", &spec("/nonexistent/server", &[]))
        .await
        .err()
        .unwrap();
    assert!(e.detail.unwrap_or_default().contains("cannot run"));
}

#[tokio::test]
async fn a_start_that_never_becomes_ready_times_out_and_is_killed() {
    let pidfile = tempfile::NamedTempFile::new().unwrap();
    let script = format!("echo $$ > {}; exec sleep 300", pidfile.path().display());
    let mut s = spec("sh", &["-c", &script]);
    s.url = Some("http://127.0.0.1:9/v1".into());
    s.ready_url = Some("http://127.0.0.1:9/never".into());
    s.start_timeout = Duration::from_secs(1);
    let e = start("t", &s).await.err().unwrap();
    assert_eq!((e.kind, e.status()), (ErrorKind::BackendTimeout, 504));
    assert!(
        e.message.contains("did not become ready within 1s"),
        "{}",
        e.message
    );
    let pid: u32 = std::fs::read_to_string(pidfile.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!alive(pid), "the child was left running");
}

#[tokio::test]
async fn stop_takes_the_whole_process_group_and_exit_is_seen() {
    // A wrapper script whose own child would outlive a signal to the wrapper alone.
    let script = "sleep 300 & echo \"child $!\"; echo 'ready at http://127.0.0.1:1'; wait";
    let mut s = spec("sh", &["-c", script]);
    s.ready_line = Some("ready at ".into());
    let running = start("t", &s).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let line = running.tail().last(5);
    let grandchild: u32 = line
        .lines()
        .find_map(|l| l.strip_prefix("child "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no child pid in {line:?}"));
    assert!(alive(grandchild));
    running.stop(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!alive(grandchild), "the wrapper's child outlived the stop");

    let mut s = spec(
        "sh",
        &[
            "-c",
            "echo 'ready at http://127.0.0.1:1'; sleep 0.3; echo 'segfault in kernel' >&2; exit 139",
        ],
    );
    s.ready_line = Some("ready at ".into());
    let mut running = start("t", &s).await.unwrap();
    let why = tokio::time::timeout(Duration::from_secs(5), running.exited())
        .await
        .unwrap();
    assert!(why.contains("exit status: 139"), "{why}");
    assert!(why.contains("segfault in kernel"), "{why}");
}

fn hooks(dir: &Path, start: &str, status: Option<&str>) -> CommandSpec {
    CommandSpec {
        start: start.into(),
        stop: Some(format!("echo stopped >> {}/stops", dir.display())),
        status: status.map(Into::into),
        start_timeout: Duration::from_secs(5),
        stop_timeout: Duration::from_secs(5),
        status_timeout: Duration::from_secs(5),
        status_interval: Duration::from_millis(50),
        ready_timeout: Duration::from_secs(2),
        env: vec![("MARK".into(), dir.join("ready").display().to_string())],
        cwd: Some(dir.to_path_buf()),
        url: None,
        api_path: "/v1".into(),
    }
}

#[tokio::test]
async fn command_hooks_start_poll_status_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let spec = hooks(
        dir.path(),
        // Becomes ready a little later, like a VM booting.
        "(sleep 0.3; touch \"$MARK\") & echo starting $DEVASSIST_BACKEND; echo http://10.1.2.3:8000/",
        Some("test -f \"$MARK\""),
    );
    let p = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(spec),
    };
    let instance = p.start().await.unwrap();
    assert_eq!(instance.base_url(), "http://10.1.2.3:8000/v1");
    assert!(dir.path().join("ready").exists());
    instance.stop(Duration::ZERO).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stops")).unwrap(),
        "stopped\n"
    );
}

#[tokio::test]
async fn command_hook_failures_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let failing = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(hooks(dir.path(), "echo 'quota exceeded' >&2; exit 2", None)),
    };
    let e = failing.start().await.err().unwrap();
    assert_eq!(
        e.message,
        "backend `vm` failed to start: the start hook failed"
    );
    assert!(e.detail.unwrap_or_default().contains("quota exceeded"));

    let never = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(hooks(
            dir.path(),
            "echo http://10.1.2.3:8000",
            Some("exit 1"),
        )),
    };
    let e = never.start().await.err().unwrap();
    assert_eq!((e.kind, e.status()), (ErrorKind::BackendTimeout, 504));
    assert!(
        dir.path().join("stops").exists(),
        "a start that never became ready is stopped again"
    );

    let mut slow = hooks(dir.path(), "sleep 30", None);
    slow.start_timeout = Duration::from_millis(300);
    let slow = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(slow),
    };
    let e = slow.start().await.err().unwrap();
    assert!(
        e.message.contains("start hook did not finish within 300ms"),
        "{}",
        e.message
    );

    let no_url = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(hooks(dir.path(), "true", None)),
    };
    let e = no_url.start().await.err().unwrap();
    assert!(e.detail.unwrap_or_default().contains("printed no URL"));

    let mut stop_fails = hooks(dir.path(), "echo http://h:1", None);
    stop_fails.stop = Some("echo 'permission denied' >&2; exit 1".into());
    let p = CommandProvider {
        name: "vm".into(),
        spec: Arc::new(stop_fails),
    };
    let err = p
        .start()
        .await
        .unwrap()
        .stop(Duration::ZERO)
        .await
        .err()
        .unwrap();
    assert!(err.contains("permission denied"), "{err}");
}
