"""Scale to zero with real processes: devassist starts `fake_backend.py` as a `process`
backend (or through `command` hooks), holds requests while it loads, stops it when idle,
restarts it after a crash, and never leaves it behind — not even when killed with SIGKILL."""

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from conftest import BIN, Gateway, wait_for

FAKE = pathlib.Path(__file__).with_name("fake_backend.py")
PY = sys.executable


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to reap it."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        # Gone before the open, or between the open and the read (ESRCH).
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def events(path: pathlib.Path, kind: str) -> list[list[str]]:
    if not path.exists():
        return []
    return [l.split()[1:] for l in path.read_text().splitlines() if l.startswith(kind + " ")]


def toml_list(items) -> str:
    return json.dumps([str(i) for i in items])


def process_config(tmp: pathlib.Path, *, delay=0.0, args=(), lifecycle="", port_mode=False, models=("fake",)) -> str:
    ev = tmp / "events"
    command = [PY, FAKE, "--delay", delay, "--events", ev, *args]
    if port_mode:
        # devassist picks the port; readiness is probed at the default /v1/models.
        command += ["--port", "{port}"]
        ready = ""
    else:
        ready = 'ready_line = "fake-backend listening on "'
    model_entries = "".join(
        f'\n[[models]]\nname = "{m}"\nbackend = "fake"\nupstream = "{m}"\ncapabilities = ["completion"]\n'
        for m in models
    )
    return f"""
[[backends]]
name = "fake"
kind = "openai"
[backends.lifecycle]
provider = "process"
command = {toml_list(command)}
{ready}
{lifecycle}
{model_entries}
"""


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="devassist-scale-") as d:
        yield pathlib.Path(d)


def backend_status(gw: Gateway, name="fake") -> dict:
    return next(b for b in gw.status()["backends"] if b["name"] == name)


def chat(url, model="fake", stream=False, timeout=30.0):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)


def test_hundred_concurrent_requests_share_one_wake(tmp):
    gw = Gateway(process_config(tmp, delay=1.5), "scale")
    try:
        assert backend_status(gw)["state"] == "cold"

        async def burst():
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits) as c:
                body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
                return await asyncio.gather(*(c.post(f"{gw.url}/v1/chat/completions", json=body) for _ in range(100)))

        answers = asyncio.run(burst())
        assert [r.status_code for r in answers] == [200] * 100
        assert {r.json()["choices"][0]["message"]["content"] for r in answers} == {"tok0 tok1 tok2 tok3 "}
        assert len(events(tmp / "events", "start")) == 1, "exactly one process was started"
        b = backend_status(gw)
        assert b["state"] == "ready" and b["wakes"] == 1 and b["provider"] == "process"
        assert b["wake"]["min_ms"] >= 1500
        assert b["pid"] == int(events(tmp / "events", "start")[0][0])
    finally:
        gw.stop()


def test_idle_stop_then_rewake_on_a_picked_port(tmp):
    gw = Gateway(process_config(tmp, port_mode=True, lifecycle='idle_timeout = "1s"'), "scale")
    try:
        assert chat(gw.url).status_code == 200
        first = backend_status(gw)
        assert first["state"] == "ready" and first["url"].startswith("http://127.0.0.1:")
        pid = first["pid"]
        wait_for(lambda: backend_status(gw)["state"] == "cold")
        assert not alive(pid), "the idle backend was stopped"
        assert len(events(tmp / "events", "stop")) == 1, "stopped with SIGTERM, not killed"
        r = chat(gw.url)
        assert r.status_code == 200
        b = backend_status(gw)
        assert b["wakes"] == 2 and b["pid"] != pid
        assert len(events(tmp / "events", "start")) == 2
    finally:
        gw.stop()


def test_crash_mid_stream_is_reported_and_the_next_request_restarts_it(tmp):
    gw = Gateway(process_config(tmp, models=("fake", "crash")), "scale")
    try:
        assert chat(gw.url).status_code == 200
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", timeout=30,
                          json={"model": "crash", "messages": [{"role": "user", "content": "hi"}], "stream": True}) as r:
            assert r.status_code == 200
            frames = [l[6:] for l in r.iter_lines() if l.startswith("data: ")]
        chunks = [json.loads(f) for f in frames]
        text = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
        assert [t for t in text if t] == ["tok0 ", "tok1 ", "tok2 "]
        error = json.loads(frames[-1])["error"]
        assert "crashed while answering" in error["message"], error
        b = wait_for(lambda: (s := backend_status(gw))["state"] == "failed" and s)
        assert "simulated crash" in b["last_error"] and b["crashes"] == 1
        # Ollama dialect, the next wake: the same crash as an NDJSON error line.
        with httpx.stream("POST", f"{gw.url}/api/chat", timeout=30,
                          json={"model": "crash", "messages": [{"role": "user", "content": "hi"}]}) as r:
            lines = [json.loads(l) for l in r.iter_lines() if l]
        assert "crashed while answering" in lines[-1]["error"], lines[-1]
        wait_for(lambda: backend_status(gw)["state"] == "failed")
        assert backend_status(gw)["failures"] == 2, "a crash right after a restart continues the streak"
        # A crash loop backs off, and says for how long.
        r = chat(gw.url)
        assert r.status_code == 503, r.text
        assert "will be started again" in r.json()["error"]["message"]
        time.sleep(int(r.headers["retry-after"]))
        r = chat(gw.url)
        assert r.status_code == 200
        assert backend_status(gw)["wakes"] == 3
    finally:
        gw.stop()


def test_crash_before_the_first_byte_is_a_clear_502(tmp):
    gw = Gateway(process_config(tmp, models=("fake", "crash-now")), "scale")
    try:
        r = chat(gw.url, model="crash-now")
        assert r.status_code == 502
        assert "crashed while answering" in r.json()["error"]["message"]
        r = httpx.post(f"{gw.url}/api/generate", json={"model": "crash-now", "prompt": "x", "stream": False}, timeout=30)
        assert r.status_code == 502
        assert "crashed while answering" in r.json()["error"]
    finally:
        gw.stop()


def test_a_start_that_never_becomes_ready_times_out(tmp):
    config = process_config(tmp, args=["--never-ready"], lifecycle='wake_timeout = "2s"')
    gw = Gateway(config, "scale")
    try:
        t0 = time.time()
        r = chat(gw.url)
        assert r.status_code == 504
        assert "did not become ready within 2s" in r.json()["error"]["message"]
        assert 1.5 < time.time() - t0 < 10
        b = wait_for(lambda: (s := backend_status(gw))["state"] == "failed" and s)
        assert "loading" in b["last_error"], "the process's last lines explain the failure"
        pid = int(events(tmp / "events", "start")[0][0])
        wait_for(lambda: not alive(pid), timeout=5)
    finally:
        gw.stop()


def test_reject_mode_answers_503_with_retry_after_until_ready(tmp):
    gw = Gateway(process_config(tmp, delay=1.0, lifecycle='on_cold = "reject"'), "scale")
    try:
        r = chat(gw.url)
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) >= 1
        assert "is starting" in r.json()["error"]["message"]
        r = httpx.post(f"{gw.url}/api/generate", json={"model": "fake", "prompt": "x", "stream": False})
        assert r.status_code == 503 and "is starting" in r.json()["error"]
        assert "retry-after" in r.headers
        answered = wait_for(lambda: chat(gw.url).status_code == 200, timeout=15, every=0.2)
        assert answered
        assert len(events(tmp / "events", "start")) == 1, "polling does not start it again"
    finally:
        gw.stop()


def test_limits_queue_then_refuse_with_503_overloaded(tmp):
    config = process_config(tmp, models=("fake", "slow-1500"), lifecycle="max_concurrent = 1\nmax_queue = 1")
    gw = Gateway(config, "scale")
    try:
        assert chat(gw.url).status_code == 200

        async def three():
            async with httpx.AsyncClient(timeout=30) as c:
                body = {"model": "slow-1500", "messages": [{"role": "user", "content": "hi"}]}
                tasks = []
                for _ in range(3):
                    tasks.append(asyncio.create_task(c.post(f"{gw.url}/v1/chat/completions", json=body)))
                    await asyncio.sleep(0.2)
                return await asyncio.gather(*tasks)

        codes = sorted(r.status_code for r in asyncio.run(three()))
        assert codes == [200, 200, 503]
    finally:
        gw.stop()


def hook_config(tmp: pathlib.Path, start: str, status: str | None, lifecycle: str = "") -> str:
    status_line = f"status = {json.dumps(status)}" if status else ""
    return f"""
[[backends]]
name = "vm"
kind = "openai"
[backends.lifecycle]
start = {json.dumps(start)}
stop = {json.dumps(f"kill $(cat {tmp}/pid); echo stopped >> {tmp}/stops")}
{status_line}
status_interval = "100ms"
{lifecycle}

[[models]]
name = "fake"
backend = "vm"
"""


def test_command_hooks_start_probe_and_stop_a_backend(tmp):
    # The start hook launches the server in the background and prints its URL, as a cloud
    # CLI would print an instance's address.
    log = tmp / "log"
    start = (
        f"{PY} {FAKE} --delay 0.5 --events {tmp}/events > {log} 2>&1 & echo $! > {tmp}/pid; "
        f"for i in $(seq 100); do u=$(sed -n 's/^fake-backend listening on //p' {log}); "
        f'[ -n "$u" ] && echo "$u" && exit 0; sleep 0.1; done; exit 1'
    )
    status = f"{PY} -c \"import urllib.request,os; urllib.request.urlopen(os.environ['DEVASSIST_URL'] + '/models')\""
    gw = Gateway(hook_config(tmp, start, status, 'idle_timeout = "1s"'), "scale")
    try:
        assert chat(gw.url).status_code == 200
        b = backend_status(gw, "vm")
        assert b["provider"] == "command" and b["url"].endswith("/v1")
        pid = int((tmp / "pid").read_text())
        wait_for(lambda: backend_status(gw, "vm")["state"] == "cold")
        assert (tmp / "stops").read_text() == "stopped\n"
        wait_for(lambda: not alive(pid), timeout=5)
    finally:
        gw.stop()


def test_hook_failures_are_clear_errors(tmp):
    gw = Gateway(hook_config(tmp, "echo 'ERROR: quota GPUS_ALL_REGIONS exceeded' >&2; exit 3", None), "scale")
    try:
        r = chat(gw.url)
        assert r.status_code == 502
        assert r.json()["error"]["message"] == "backend `vm` failed to start: the start hook failed"
        b = backend_status(gw, "vm")
        assert b["state"] == "failed" and "quota GPUS_ALL_REGIONS exceeded" in b["last_error"]
    finally:
        gw.stop()
    gw = Gateway(hook_config(tmp, "echo http://127.0.0.1:9", "exit 1", 'wake_timeout = "1s"'), "scale")
    try:
        r = chat(gw.url)
        assert r.status_code == 504
        assert "did not become ready within 1s" in r.json()["error"]["message"]
    finally:
        gw.stop()


def test_no_orphan_after_the_gateway_is_killed_with_sigkill(tmp):
    gw = Gateway(process_config(tmp), "scale")
    assert chat(gw.url).status_code == 200
    pid = backend_status(gw)["pid"]
    assert alive(pid)
    gw.stop(signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=5)


def test_graceful_shutdown_stops_every_backend(tmp):
    gw = Gateway(process_config(tmp), "scale")
    assert chat(gw.url).status_code == 200
    pid = backend_status(gw)["pid"]
    assert gw.stop() == 0
    assert not alive(pid)
    assert len(events(tmp / "events", "stop")) == 1, "asked to stop with SIGTERM"


def start_fake(tmp: pathlib.Path, name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([PY, FAKE, "--events", str(tmp / name)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.split(" on ", 1)[1].strip()


def test_replicas_fail_over_and_keep_a_file_on_one_replica(tmp):
    a, url_a = start_fake(tmp, "a")
    b, url_b = start_fake(tmp, "b")
    config = f"""
[[backends]]
name = "dead"
kind = "openai"
url = "http://127.0.0.1:9/v1"

[[backends]]
name = "a"
kind = "openai"
url = "{url_a}/v1"

[[backends]]
name = "b"
kind = "openai"
url = "{url_b}/v1"

[[models]]
name = "coder"
backends = ["dead", "a", "b"]
capabilities = ["completion", "insert"]
"""
    gw = Gateway(config, "scale")
    try:
        def fim(prefix):
            body = {"model": "coder", "prompt": prefix, "suffix": "\n}", "stream": False}
            return httpx.post(f"{gw.url}/api/generate", json=body, timeout=30)

        # Whichever prompts the balancer sends to the dead replica first fail over.
        for i in range(10):
            assert fim(f"fn main{i}() {{").status_code == 200
        dead = backend_status(gw, "dead")
        assert dead["healthy"] is False, dead
        assert dead["stats"]["failed"] == 1, "tried once, then avoided while unhealthy"

        def requests(name):
            return backend_status(gw, name)["stats"]["requests"]

        before = {n: requests(n) for n in ("a", "b")}
        header = "// src/parser.rs\nuse std::collections::HashMap;\n" * 8
        for i in range(12):
            assert fim(header + f"fn f{i}() {{").status_code == 200
        moved = {n: requests(n) - before[n] for n in ("a", "b")}
        assert sorted(moved.values()) == [0, 12], f"one file, one replica: {moved}"
        for i in range(40):
            assert fim(f"// file {i}\n" * 30).status_code == 200
        spread = {n: requests(n) - before[n] - moved[n] for n in ("a", "b")}
        assert min(spread.values()) >= 8, f"different files use both replicas: {spread}"
        out = subprocess.run([BIN, "status", "--url", gw.url], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "BACKEND" in out.stdout and "always_on" in out.stdout
        assert "model coder → dead, a, b" in out.stdout
    finally:
        gw.stop()
        a.kill()
        b.kill()
