"""The `external` lifecycle: devassist starts nothing; another process (KEDA in production,
`fake_scaler.py` or the test itself here) brings the backend up when `GET /status/queue` shows
demand. Requests are held while the backend is down and answered once it answers its readiness
URL; the demand rises with the waiting requests and falls after the idle timeout; a backend
that never comes is a 504 after `wake_timeout`."""

import concurrent.futures
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from conftest import Gateway, wait_for

HERE = pathlib.Path(__file__).parent
PY = sys.executable


def free_port() -> int:
    # The backend is started later by another process on a port the gateway must know in
    # advance, as a Kubernetes Service address is: bind 0, note it, release it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port: int, lifecycle: str = "") -> str:
    return f"""
[[backends]]
name = "gpu"
kind = "openai"
url = "http://127.0.0.1:{port}/v1"
[backends.lifecycle]
provider = "external"
ready_url = "http://127.0.0.1:{port}/health"
ready_interval = "50ms"
{lifecycle}

[[models]]
name = "coder"
backend = "gpu"
upstream = "fake"
"""


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="devassist-external-") as d:
        yield pathlib.Path(d)


def queue(gw: Gateway) -> dict:
    return httpx.get(f"{gw.url}/status/queue").json()


def chat(url: str, timeout=60.0) -> httpx.Response:
    body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)


def start_backend(port: int, events: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, str(HERE / "fake_backend.py"), "--port", str(port), "--events", str(events)],
        stdout=subprocess.DEVNULL,
    )


def test_requests_are_held_until_another_process_starts_the_backend(tmp):
    port = free_port()
    gw = Gateway(config(port, 'idle_timeout = "2s"\nwake_timeout = "60s"'), "external")
    backend = None
    try:
        q = queue(gw)
        assert q["backends"]["gpu"] == {
            "provider": "external", "state": "cold",
            "queued": 0, "in_flight": 0, "wanted": False, "demand": 0,
        }
        assert q["models"]["coder"]["demand"] == 0 and q["models"]["coder"]["backends"] == ["gpu"]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = [pool.submit(chat, gw.url) for _ in range(3)]
            q = wait_for(lambda: (q := queue(gw))["backends"]["gpu"]["queued"] == 3 and q)
            assert q["backends"]["gpu"]["state"] == "starting"
            assert q["backends"]["gpu"]["demand"] == 3 and q["backends"]["gpu"]["wanted"]
            assert q["models"]["coder"]["demand"] == 3
            time.sleep(0.5)
            assert not any(a.done() for a in answers), "requests are held while the backend is down"
            backend = start_backend(port, tmp / "events")
            results = [a.result(timeout=30) for a in answers]
        assert [r.status_code for r in results] == [200] * 3, [r.text for r in results]
        assert {r.json()["choices"][0]["message"]["content"] for r in results} == {"tok0 tok1 tok2 tok3 "}
        g = wait_for(lambda: (g := queue(gw)["backends"]["gpu"])["in_flight"] == 0 and g)
        assert (g["state"], g["queued"], g["wanted"], g["demand"]) == ("ready", 0, True, 1)
        # After the idle timeout devassist stops wanting it, and stops nothing itself.
        g = wait_for(lambda: (g := queue(gw)["backends"]["gpu"])["state"] == "cold" and g, timeout=10)
        assert (g["wanted"], g["demand"]) == (False, 0)
        assert backend.poll() is None, "devassist must not stop an externally scaled backend"
        # Still up: the next request finds it at the first probe.
        assert chat(gw.url).status_code == 200
        assert queue(gw)["backends"]["gpu"]["state"] == "ready"
        s = next(b for b in gw.status()["backends"] if b["name"] == "gpu")
        assert s["provider"] == "external" and s["wakes"] == 2
    finally:
        gw.stop()
        if backend:
            backend.terminate()
            backend.wait(10)


def test_wake_timeout_is_a_504_and_the_demand_falls_back(tmp):
    port = free_port()
    gw = Gateway(config(port, 'wake_timeout = "1s"'), "external")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            t0 = time.time()
            answer = pool.submit(chat, gw.url)
            wait_for(lambda: queue(gw)["backends"]["gpu"]["demand"] == 1)
            r = answer.result(timeout=30)
        assert r.status_code == 504, r.text
        assert "did not become ready within 1s" in r.json()["error"]["message"]
        assert 0.9 < time.time() - t0 < 10
        g = wait_for(lambda: (g := queue(gw)["backends"]["gpu"])["state"] == "failed" and g)
        assert (g["queued"], g["wanted"], g["demand"]) == (0, False, 0)
    finally:
        gw.stop()


def test_a_scaler_process_scales_the_backend_from_zero_and_back_on_the_queue_metric(tmp):
    port = free_port()
    gw = Gateway(config(port, 'idle_timeout = "1s"'), "external")
    events = tmp / "events"
    scaler = subprocess.Popen([
        PY, str(HERE / "fake_scaler.py"), "--gateway", gw.url, "--backend", "gpu",
        "--port", str(port), "--cooldown", "0.5", "--delay", "0.5", "--events", str(events),
    ])
    lines = lambda kind: [l for l in events.read_text().splitlines() if l.startswith(kind)] if events.exists() else []
    try:
        t0 = time.time()
        r = chat(gw.url)
        assert r.status_code == 200, r.text
        assert time.time() - t0 >= 0.5, "the answer waited for the backend's load"
        assert len(lines("start")) == 1
        # Idle: devassist stops wanting it, the scaler takes it down after its cooldown.
        wait_for(lambda: len(lines("stop")) == 1, timeout=15)
        assert queue(gw)["backends"]["gpu"]["demand"] == 0
        # And brings it back for the next request.
        assert chat(gw.url).status_code == 200
        assert len(lines("start")) == 2
    finally:
        scaler.send_signal(signal.SIGTERM)
        scaler.wait(15)
        gw.stop()
