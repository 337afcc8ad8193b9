"""Wire-level behaviour that client libraries hide: framing, headers, limits, error shapes,
correlation ids, cancellation and shutdown. Raw HTTP through httpx and sockets."""

import json
import signal
import socket
import subprocess
import time

import httpx
import pytest

from conftest import BIN, Gateway, UPSTREAM_CONFIG


def test_root_version_and_head(upstream):
    assert httpx.get(upstream.url).text == "Ollama is running"
    assert httpx.head(upstream.url).status_code == 200
    v = httpx.get(f"{upstream.url}/api/version").json()["version"]
    parts = [int(p) for p in v.split(".")]
    assert len(parts) == 3 and parts >= [0, 6, 4]
    assert httpx.head(f"{upstream.url}/api/tags").status_code == 200
    assert httpx.get(f"{upstream.url}/api/generate").status_code == 405


def test_ndjson_one_object_per_line_and_headers(upstream):
    with httpx.stream("POST", f"{upstream.url}/api/generate", json={"model": "echo", "prompt": "a b c"}) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["x-accel-buffering"] == "no"
        lines = [json.loads(l) for l in r.iter_lines() if l]
    assert [l["done"] for l in lines] == [False, False, False, True]
    final = lines[-1]
    for key in ("done_reason", "total_duration", "load_duration", "prompt_eval_count", "eval_count"):
        assert key in final, key
    assert all(l["model"] == "echo" and l["created_at"].endswith("Z") for l in lines)


def test_sse_framing_never_pings(upstream):
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi there"}], "stream": True}
    with httpx.stream("POST", f"{upstream.url}/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        raw = r.read().decode()
    assert ": ping" not in raw
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


@pytest.mark.parametrize(
    "path,shape",
    [("/api/chat", "ollama"), ("/api/generate", "ollama"), ("/v1/chat/completions", "openai"), ("/v1/completions", "openai")],
)
def test_malformed_json_and_wrong_types(upstream, path, shape):
    for body in (b"{not json", b'{"model": ["a"]}', b""):
        r = httpx.post(f"{upstream.url}{path}", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        if shape == "ollama":
            assert isinstance(err, str) and err
        else:
            assert err["type"] == "invalid_request_error" and err["message"]


def test_body_over_limit_is_413(upstream):
    big = {"model": "echo", "prompt": "x" * (17 * 1024 * 1024)}
    r = httpx.post(f"{upstream.url}/api/generate", json=big)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = httpx.post(f"{upstream.url}/v1/completions", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"


def test_raw_with_template_is_rejected(upstream):
    r = httpx.post(f"{upstream.url}/api/generate", json={"model": "echo", "prompt": "x", "raw": True, "system": "s"})
    assert r.status_code == 400
    assert r.json() == {"error": "raw mode does not support template, system, or context"}


def test_suffix_on_model_without_insert(upstream):
    r = httpx.post(f"{upstream.url}/api/generate", json={"model": "drip", "prompt": "x", "suffix": "y"})
    assert r.status_code == 400 and r.json()["error"] == "drip does not support insert"


def test_request_id_is_returned_and_forwarded(front, upstream):
    rid = "test-correlation-1234"
    r = httpx.post(
        f"{front.url}/api/generate",
        json={"model": "via-openai", "prompt": "hello", "stream": False},
        headers={"X-Request-ID": rid},
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == rid
    assert rid in front.logs()
    assert rid in upstream.logs(), "the correlation id was not forwarded upstream"
    gitlab = httpx.get(f"{front.url}/api/tags", headers={"X-Gitlab-Correlation-Id": "gl-42"})
    assert gitlab.headers["x-request-id"] == "gl-42"
    generated = httpx.get(f"{front.url}/api/tags").headers["x-request-id"]
    assert len(generated) >= 16


def test_ollama_stream_error_after_first_byte_is_an_error_line(front):
    with httpx.stream("POST", f"{front.url}/api/chat", json={"model": "broken-ollama", "messages": [{"role": "user", "content": "a b c d e"}]}) as r:
        assert r.status_code == 200
        lines = [json.loads(l) for l in r.iter_lines() if l]
    assert lines[0]["message"]["content"] == "a"
    assert "error" in lines[-1] and not any(l.get("done") for l in lines)


def test_hang_before_first_byte_is_504_in_ollama_shape(front):
    r = httpx.post(f"{front.url}/api/chat", json={"model": "hang-ollama", "messages": [{"role": "user", "content": "x"}]}, timeout=20)
    assert r.status_code == 504 and isinstance(r.json()["error"], str)


def test_refused_upstream_is_502():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = f"""
[[backends]]
name = "dead"
kind = "openai"
url = "http://127.0.0.1:{port}/v1"
[[models]]
name = "m"
backend = "dead"
"""
    gw = Gateway(cfg, "refused")
    try:
        r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 502 and r.json()["error"]["type"] == "api_error"
        # The gateway keeps serving.
        assert httpx.get(f"{gw.url}/api/tags").status_code == 200
    finally:
        gw.stop()


@pytest.mark.parametrize("model", ["drip-openai", "drip-ollama"])
def test_client_disconnect_cancels_upstream(front, upstream, model):
    before = upstream.backend_stats("drip")["cancelled"]
    with httpx.stream("POST", f"{front.url}/api/generate", json={"model": model, "prompt": "go"}) as r:
        first = next(r.iter_lines())
        assert json.loads(first)["response"]
    # The client hung up after one chunk; the mock behind the upstream must see it.
    deadline = time.time() + 5
    while time.time() < deadline:
        stats = upstream.backend_stats("drip")
        if stats["cancelled"] > before and stats["in_flight"] == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"upstream never saw the cancellation: {upstream.backend_stats('drip')}")
    assert time.time() < deadline


def test_graceful_shutdown_finishes_in_flight_streams():
    gw = Gateway(UPSTREAM_CONFIG, "shutdown")
    body = {"model": "drip", "prompt": "go", "options": {"num_predict": 20}}
    with httpx.stream("POST", f"{gw.url}/api/generate", json=body, timeout=30) as r:
        it = r.iter_lines()
        next(it)
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gw.url}/api/tags")
        rest = [json.loads(l) for l in it if l]
    assert rest[-1]["done"] and rest[-1]["eval_count"] == 20
    assert gw.proc.wait(10) == 0
    gw.stop()


def test_config_check_reports_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nlisten = "x"\ntypo = 1\n[[backends]]\nname = "a"\nkind = "nope"\n')
    out = subprocess.run([BIN, "config", "check", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    for path in ("server.listen", "server.typo", "backends[0].kind"):
        assert path in out.stderr, out.stderr
    good = tmp_path / "good.toml"
    good.write_text(UPSTREAM_CONFIG)
    out = subprocess.run([BIN, "config", "check", str(good)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_json_logs_carry_the_request_id():
    gw = Gateway(UPSTREAM_CONFIG.replace('level = "info"', 'level = "info"\nformat = "json"'), "jsonlog", env={"RUST_LOG": ""})
    try:
        httpx.post(f"{gw.url}/api/generate", json={"model": "echo", "prompt": "hi", "stream": False}, headers={"X-Request-ID": "json-rid-7"})
        httpx.post(f"{gw.url}/api/generate", json={"model": "ghost", "prompt": "hi"}, headers={"X-Request-ID": "json-rid-8"})
    finally:
        gw.stop()
    lines = [json.loads(l) for l in gw.logs().splitlines() if l.startswith("{")]
    assert lines, gw.logs()
    served = [l for l in lines if l.get("span", {}).get("request_id") == "json-rid-7"]
    assert served and served[0]["level"] == "INFO" and served[0]["fields"]["status"] == 200
    rejected = [l for l in lines if l.get("span", {}).get("request_id") == "json-rid-8"]
    assert rejected and "not found" in rejected[0]["fields"]["error"]
