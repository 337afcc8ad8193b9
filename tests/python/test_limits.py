"""Limits that keep the gateway alive, with the real binary on real sockets: the cap on
requests in progress (a fast 503 with Retry-After in each API's dialect), the cap on
connections, the request-body timeout, the raised open-file limit, and process backends that
never outlive the gateway, even one that forks, leaves its process group or ignores SIGTERM,
even after `kill -9`."""

import json
import os
import pathlib
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import pytest

from conftest import BIN, Gateway, wait_for

FAKE = pathlib.Path(__file__).with_name("fake_backend.py")
PY = sys.executable


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="devassist-limits-") as d:
        yield pathlib.Path(d)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


def events(path: pathlib.Path, kind: str) -> list[int]:
    if not path.exists():
        return []
    return [int(l.split()[1]) for l in path.read_text().splitlines() if l.startswith(kind + " ")]


# --- process backends never outlive the gateway -------------------------------------------

KINDS = {
    # name: extra fake_backend.py arguments
    "plain": [],
    "forks": ["--grandchildren", "2", "--escape"],
    "stubborn": ["--ignore-term", "--grandchildren", "1"],
}


def stubborn_config(tmp: pathlib.Path, stop_grace="10s") -> str:
    parts = []
    for name, args in KINDS.items():
        command = [PY, str(FAKE), "--events", str(tmp / name), *args]
        parts.append(f"""
[[backends]]
name = "{name}"
kind = "openai"
[backends.lifecycle]
provider = "process"
command = {json.dumps(command)}
ready_line = "fake-backend listening on "
stop_grace = "{stop_grace}"

[[models]]
name = "{name}"
backend = "{name}"
capabilities = ["completion"]
""")
    return "".join(parts)


def wake_all(gw: Gateway, tmp: pathlib.Path) -> dict[str, list[int]]:
    """Wakes every backend; returns each one's processes (the backend, then what it forked)."""
    pids = {}
    for name, args in KINDS.items():
        body = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30)
        assert r.status_code == 200, r.text
        (backend,) = events(tmp / name, "start")
        status = next(b for b in gw.status()["backends"] if b["name"] == name)
        assert status["pid"] == backend, "/status shows the backend's own pid"
        expected = 3 if name == "forks" else (1 if name == "stubborn" else 0)
        children = wait_for(lambda: len(events(tmp / name, "child")) == expected and events(tmp / name, "child"), timeout=10) if expected else []
        pids[name] = [backend, *children]
        assert all(alive(p) for p in pids[name]), name
    return pids


def test_kill_9_of_the_gateway_leaves_no_backend_process(tmp):
    gw = Gateway(stubborn_config(tmp), "orphans")
    try:
        pids = wake_all(gw, tmp)
    except BaseException:
        gw.stop()
        raise
    groups = [procs[0] for procs in pids.values()]
    everything = [p for procs in pids.values() for p in procs]
    # The forking backend's last child left the process group (its own session).
    assert stat_fields(pids["forks"][-1])[2] != str(pids["forks"][0])
    killed_at = time.time()
    gw.stop(signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in everything), timeout=5)
    assert not any(group_members(g) for g in groups)
    # The stubborn one was given its grace period before SIGKILL, not killed at once.
    assert time.time() - killed_at >= 2.5


def test_a_graceful_stop_takes_stubborn_backends_and_their_children(tmp):
    gw = Gateway(stubborn_config(tmp, stop_grace="1s"), "orphans")
    try:
        pids = wake_all(gw, tmp)
    finally:
        code = gw.stop()
    assert code == 0
    everything = [p for procs in pids.values() for p in procs]
    assert [p for p in everything if alive(p)] == [], "left running after the gateway exited"
    assert len(events(tmp / "plain", "stop")) == 1, "the plain backend was asked with SIGTERM"


# --- requests in progress -----------------------------------------------------------------

MOCK = """
[[backends]]
name = "mock"
kind = "mock"
[backends.mock]
mode = "echo"

[[models]]
name = "echo"
backend = "mock"
capabilities = ["completion", "insert"]

[[models]]
name = "hang"
backend = "mock"
capabilities = ["completion", "insert"]
"""


def limits_config(**server) -> str:
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in server.items())
    return f"[server]\n{lines}\n{MOCK}"


def hold_hung_requests(url: str, n: int) -> list[threading.Thread]:
    """`n` requests to the hung model, each on its own connection, held until the gateway
    goes away (or 60 s)."""

    def one():
        try:
            body = {"model": "hang", "prompt": "x", "stream": True}
            with httpx.stream("POST", f"{url}/api/generate", json=body, timeout=60) as r:
                for _ in r.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def in_flight(gw: Gateway) -> int:
    return next(b for b in gw.status()["backends"] if b["name"] == "mock")["in_flight"]


DIALECTS = [
    # path, body, check of the 503 body
    ("/api/generate", {"model": "echo", "prompt": "hi", "stream": False},
     lambda b: set(b) == {"error"} and "limit of 2 requests in progress" in b["error"]),
    ("/v1/chat/completions", {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
     lambda b: b["error"]["type"] == "api_error" and b["error"]["code"] == "overloaded"
     and "limit of 2 requests in progress" in b["error"]["message"]),
    ("/v2/code/completions",
     {"current_file": {"file_name": "a.py", "content_above_cursor": "def f(", "content_below_cursor": ""}},
     lambda b: b == {"detail": "Inference failed"}),
]


def test_over_the_in_flight_cap_a_fast_503_in_each_dialect():
    gw = Gateway(limits_config(max_in_flight=2), "limits")
    try:
        hold_hung_requests(gw.url, 2)
        wait_for(lambda: in_flight(gw) == 2)
        with httpx.Client(timeout=10) as c:
            for path, body, shape in DIALECTS:
                t0 = time.perf_counter()
                r = c.post(f"{gw.url}{path}", json=body)
                took = time.perf_counter() - t0
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["retry-after"] == "1", path
                assert shape(r.json()), (path, r.text)
                assert took < 0.5, (path, took)
            # Health checks and /status are exempt.
            for path in ("/", "/api/version", "/monitoring/healthz", "/status", "/status/queue"):
                assert c.get(f"{gw.url}{path}").status_code == 200, path
        assert "Request failed" in gw.logs(), "refusals are in the access log"
    finally:
        gw.stop(signal.SIGKILL)


def test_below_the_in_flight_cap_requests_are_served_and_places_come_back():
    gw = Gateway(limits_config(max_in_flight=2), "limits")
    try:
        with httpx.Client(timeout=10) as c:
            for _ in range(5):
                r = c.post(f"{gw.url}/api/generate", json={"model": "echo", "prompt": "hi", "stream": True})
                assert r.status_code == 200, r.text
                r = c.post(f"{gw.url}/v1/chat/completions",
                           json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
                assert r.status_code == 200, r.text
    finally:
        gw.stop()


# --- connections --------------------------------------------------------------------------

def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def get_version(s: socket.socket) -> bytes:
    s.sendall(b"GET /api/version HTTP/1.1\r\nhost: t\r\n\r\n")
    return s.recv(4096)


def test_over_the_connection_cap_a_connection_waits_until_one_closes():
    gw = Gateway(limits_config(max_connections=3), "limits")
    try:
        open_ = [connect(gw.url) for _ in range(3)]
        for s in open_:
            assert get_version(s).startswith(b"HTTP/1.1 200")
        waiting = connect(gw.url)  # the kernel's backlog completes the handshake
        waiting.sendall(b"GET /api/version HTTP/1.1\r\nhost: t\r\n\r\n")
        waiting.settimeout(0.5)
        with pytest.raises(socket.timeout):
            waiting.recv(4096)
        open_.pop().close()
        waiting.settimeout(5)
        assert waiting.recv(4096).startswith(b"HTTP/1.1 200")
        assert "At the connection limit" in gw.logs()
    finally:
        gw.stop(signal.SIGKILL)


# --- request bodies -----------------------------------------------------------------------

def test_a_body_that_never_comes_is_answered_in_the_dialect_and_dropped():
    gw = Gateway(limits_config(body_timeout="1s"), "limits")
    try:
        for path, shape in [
            ("/api/generate", lambda b: "did not arrive within 1s" in b["error"]),
            ("/v1/chat/completions", lambda b: "did not arrive within 1s" in b["error"]["message"]),
        ]:
            s = connect(gw.url)
            s.sendall(f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                      f"content-length: 100\r\n\r\n{{\"model\":".encode())
            t0 = time.time()
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            took = time.time() - t0
            assert 0.9 <= took < 3, took
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), answer
            assert shape(json.loads(body)), answer
    finally:
        gw.stop()


# --- descriptors --------------------------------------------------------------------------

def soft_nofile(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit")


def test_the_open_file_limit_is_raised_and_backends_get_the_original_back(tmp):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip(f"hard limit {hard} leaves nothing to raise")
    lowered = 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        gw = Gateway(stubborn_config(tmp), "nofile")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert soft_nofile(gw.proc.pid) == hard
        logs = re.sub(r"\x1b\[[0-9;]*m", "", gw.logs())
        assert "Open-file limit" in logs and f"before={lowered}" in logs, logs
        body = {"model": "plain", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30).status_code == 200
        (backend,) = events(tmp / "plain", "start")
        assert soft_nofile(backend) == lowered
    finally:
        gw.stop()


# --- the supervisor itself ----------------------------------------------------------------

def supervise(*command, parent=None):
    parent = os.getpid() if parent is None else parent
    return subprocess.run([BIN, "supervise", "--parent", str(parent), "--", *command],
                          capture_output=True, text=True, timeout=30)


def test_the_supervisor_reports_the_pid_and_passes_the_exit_status_on():
    r = supervise("sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n"
    # The supervisor's pid line and the child's own stderr race: either may come first.
    lines = r.stderr.splitlines()
    pid_lines = [l for l in lines if l.startswith("devassist supervise: backend pid ")]
    assert len(pid_lines) == 1 and int(pid_lines[0].rsplit(" ", 1)[1]) > 0
    assert [l for l in lines if l not in pid_lines] == ["err"]
    r = supervise("sh", "-c", "kill -SEGV $$")
    assert r.returncode == 128 + signal.SIGSEGV
    assert "killed by signal SIGSEGV" in r.stderr
    r = supervise("/nonexistent/server")
    assert r.returncode == 127 and "cannot run /nonexistent/server" in r.stderr


def test_the_supervisor_does_not_start_a_backend_for_a_gateway_already_gone(tmp):
    marker = tmp / "ran"
    r = supervise("touch", str(marker), parent=1)
    assert r.returncode == 127 and "is gone; not starting" in r.stderr
    assert not marker.exists()
