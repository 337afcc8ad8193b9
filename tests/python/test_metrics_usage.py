"""Metrics and usage records of the real binary: `/metrics` parsed by the `prometheus_client`
package's parsers after real requests on the mock backend, the per-model in-flight gauge
while a slow stream runs, the usage rows in SQLite, and `devassist usage --format json`."""

import json
import pathlib
import sqlite3
import subprocess
import threading

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from conftest import BIN, Gateway, wait_for

CONFIG = """
[server]
max_body_bytes = 4096

[[backends]]
name = "mock"
kind = "mock"
[backends.mock]
mode = "echo"
tokens = 64
embedding_dims = 8

[[backends]]
name = "drip"
kind = "mock"
[backends.mock]
mode = "fixed"
text = "one two three four"
tokens = 30
token_delay = "50ms"

[[models]]
name = "echo"
backend = "mock"
capabilities = ["completion", "insert", "embedding"]

[[models]]
name = "drip"
backend = "drip"

[[models]]
name = "error"
backend = "mock"
"""


def samples(text: str, parser=parse_text) -> dict:
    """{(sample name, frozenset of labels): value} of every sample."""
    out = {}
    for family in parser(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(all_samples: dict, name: str, **labels) -> float:
    return all_samples.get((name, frozenset(labels.items())), 0.0)


def total(all_samples: dict, name: str, **labels) -> float:
    """Sum over the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in all_samples.items() if n == name and want <= set(ls))


def scrape(gw: Gateway) -> dict:
    r = httpx.get(f"{gw.url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(r.text)


def chat(url: str, model: str, content: str, stream: bool) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
        usage = None
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    usage = chunk.get("usage") or usage
        return usage
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["usage"]


@pytest.fixture
def gw():
    g = Gateway(CONFIG, "metrics")
    yield g
    g.stop()


def usage_db(g: Gateway) -> pathlib.Path:
    return pathlib.Path(g.dir.name) / "usage.sqlite3"


def send_the_mix(url: str) -> dict:
    """Requests of every kind; returns the tokens the answers reported, per model."""
    prompt = completion = 0
    for i in range(3):
        r = httpx.post(f"{url}/api/generate", json={"model": "echo", "prompt": f"a b c {i}", "stream": False})
        assert r.status_code == 200
        prompt += r.json()["prompt_eval_count"]
        completion += r.json()["eval_count"]
    for stream in (True, False):
        u = chat(url, "echo", "hello there gateway", stream)
        prompt += u["prompt_tokens"]
        completion += u["completion_tokens"]
    e = httpx.post(f"{url}/v1/embeddings", json={"model": "echo", "input": "one two three"})
    assert e.status_code == 200
    embed_tokens = e.json()["usage"]["prompt_tokens"]
    assert httpx.post(f"{url}/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}).status_code == 404
    err = httpx.post(f"{url}/v1/chat/completions", json={"model": "error", "messages": [{"role": "user", "content": "x"}]})
    assert err.status_code == 502
    big = httpx.post(f"{url}/api/generate", json={"model": "echo", "prompt": "x" * 10_000})
    assert big.status_code == 413
    return {"prompt": prompt, "completion": completion, "embed": embed_tokens}


def test_metrics_count_the_requests_sent_in_both_text_formats(gw):
    tokens = send_the_mix(gw.url)
    m = scrape(gw)
    req = "devassist_requests_total"
    assert value(m, req, surface="ollama", feature="code_completion", model="echo", status="200") == 3
    assert value(m, req, surface="openai", feature="chat", model="echo", status="200") == 2
    assert value(m, req, surface="openai", feature="embeddings", model="echo", status="200") == 1
    assert value(m, req, surface="openai", feature="none", model="none", status="404") == 1
    assert value(m, req, surface="openai", feature="chat", model="error", status="502") == 1
    assert value(m, req, surface="ollama", feature="none", model="none", status="413") == 1
    assert total(m, req) == 9, "health checks and /metrics are not requests"
    assert value(m, "devassist_rejected_requests_total", surface="ollama", reason="body_limit") == 1

    assert value(m, "devassist_tokens_total", model="echo", type="prompt") == tokens["prompt"] + tokens["embed"]
    assert value(m, "devassist_tokens_total", model="echo", type="completion") == tokens["completion"]

    ttft = "devassist_time_to_first_token_seconds_count"
    assert value(m, ttft, feature="chat", model="echo") == 2
    assert value(m, ttft, feature="code_completion", model="echo") == 3
    assert value(m, "devassist_request_duration_seconds_count", feature="chat", model="echo") == 2
    bucket = "devassist_request_duration_seconds_bucket"
    assert value(m, bucket, feature="chat", model="echo", le="+Inf") == 2
    assert value(m, "devassist_gateway_overhead_seconds_count", surface="ollama") == 3
    assert value(m, "devassist_gateway_overhead_seconds_count", surface="openai") == 4
    assert value(m, "devassist_gateway_overhead_seconds_sum", surface="openai") < 0.5

    for model in ("echo", "drip", "error"):
        assert ("devassist_model_in_flight", frozenset({("model", model)})) in m
        assert value(m, "devassist_model_in_flight", model=model) == 0
        assert value(m, "devassist_model_queued", model=model) == 0
    assert value(m, "devassist_backend_state", backend="mock", state="ready") == 1
    assert value(m, "devassist_backend_state", backend="mock", state="cold") == 0

    # The same series in OpenMetrics, for a scraper that asks for it (strict parser).
    r = httpx.get(f"{gw.url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")
    om = samples(r.text, parse_openmetrics)
    assert value(om, req, surface="ollama", feature="code_completion", model="echo", status="200") == 3


def test_in_flight_per_model_rises_while_a_slow_stream_runs(gw):
    done = threading.Event()

    def slow():
        chat(gw.url, "drip", "go", True)
        done.set()

    t = threading.Thread(target=slow)
    t.start()
    m = wait_for(lambda: (lambda m: m if value(m, "devassist_model_in_flight", model="drip") == 1 else None)(scrape(gw)))
    assert value(m, "devassist_backend_in_flight", backend="drip") == 1
    assert value(m, "devassist_model_in_flight", model="echo") == 0
    assert value(m, "devassist_model_demand", model="drip") == 1
    t.join(30)
    assert done.is_set()
    m = wait_for(lambda: (lambda m: m if value(m, "devassist_model_in_flight", model="drip") == 0 else None)(scrape(gw)))
    assert value(m, "devassist_requests_total", surface="openai", feature="chat", model="drip", status="200") == 1


def cancel_a_stream(url: str):
    """Reads the first chunk of a slow stream, then hangs up."""
    body = {"model": "drip", "messages": [{"role": "user", "content": "go"}], "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break


def test_usage_rows_match_the_requests_and_the_usage_command_sums_them():
    g = Gateway(CONFIG, "usage", env={"DEVASSIST_USAGE__RETENTION_DAYS": "30"})
    try:
        tokens = send_the_mix(g.url)
        httpx.get(f"{g.url}/api/tags")  # a listing: counted in metrics, no usage row
        assert httpx.get(f"{g.url}/no/such/path").status_code == 404  # nor a scanner's probe
        cancel_a_stream(g.url)
        m = wait_for(
            lambda: (lambda m: m if value(m, "devassist_requests_total", model="drip", feature="chat", surface="openai", status="499") == 1 else None)(scrape(g))
        )
        assert value(m, "devassist_usage_records_dropped_total") == 0
    finally:
        assert g.stop() == 0
    # Written at shutdown at the latest.
    db = sqlite3.connect(usage_db(g))
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM usage ORDER BY id")]
    assert len(rows) == 9, rows
    assert all(r["request_id"] for r in rows)
    assert all(r["key"] is None and r["user"] is None for r in rows), "anonymous"
    ok = [r for r in rows if r["model"] == "echo" and r["status"] == 200]
    assert len(ok) == 6
    assert all(r["backend"] == "mock" and r["ttft_ms"] is not None and r["duration_ms"] >= r["ttft_ms"] for r in ok)
    assert sum(r["prompt_tokens"] for r in ok) == tokens["prompt"] + tokens["embed"]
    assert sum(r["completion_tokens"] for r in ok) == tokens["completion"]
    failed = [(r["surface"], r["feature"], r["model"], r["status"]) for r in rows if r["status"] != 200]
    assert len(failed) == 3 and set(failed) == {
        ("ollama", None, None, 413),  # refused: a row; the unknown model's 404 leaves none
        ("openai", "chat", "drip", 499),
        ("openai", "chat", "error", 502),
    }
    cancelled = [r for r in rows if r["cancelled"]]
    assert len(cancelled) == 1 and cancelled[0]["model"] == "drip"
    assert cancelled[0]["completion_tokens"] is None, "never finished"

    out = subprocess.run(
        [BIN, "usage", "--config", str(g.config_path), "--since", "1h", "--by", "model", "--format", "json"],
        capture_output=True, text=True, timeout=30,
        env={"DEVASSIST_SERVER__DATA_DIR": g.dir.name, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["by"] == "model"
    groups = {r["group"]: r for r in report["rows"]}
    assert set(groups) == {"echo", "drip", "error", None}
    echo = groups["echo"]
    assert echo["requests"] == 6
    assert echo["prompt_tokens"] == tokens["prompt"] + tokens["embed"]
    assert echo["completion_tokens"] == tokens["completion"]
    assert echo["errors"] == 0 and echo["cancelled"] == 0
    assert echo["p50_ttft_ms"] is not None and echo["mean_duration_ms"] > 0
    assert groups["error"]["errors"] == 1
    assert groups["drip"]["cancelled"] == 1 and groups["drip"]["errors"] == 0
    assert groups[None]["requests"] == 1 and groups[None]["errors"] == 1
    assert sum(r["requests"] for r in report["rows"]) == 9

    table = subprocess.run([BIN, "usage", "--db", str(usage_db(g)), "--by", "surface"], capture_output=True, text=True, timeout=30)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["surface", "requests", "prompt_tokens", "completion_tokens", "errors", "cancelled", "p50_ttft_ms", "mean_duration_ms"]
    assert sorted(l.split()[0] for l in lines[1:]) == ["ollama", "openai"]

    future = subprocess.run([BIN, "usage", "--db", str(usage_db(g)), "--since", "2999-01-01T00:00:00Z", "--format", "csv"], capture_output=True, text=True, timeout=30)
    assert future.returncode == 0 and future.stdout.splitlines() == [
        "model,requests,prompt_tokens,completion_tokens,errors,cancelled,p50_ttft_ms,mean_duration_ms"
    ]
    bad = subprocess.run([BIN, "usage", "--db", str(usage_db(g)), "--since", "soon"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "neither a duration" in bad.stderr


def test_metrics_on_their_own_listener_and_usage_off():
    g = Gateway(CONFIG + '\n[metrics]\nlisten = "127.0.0.1:0"\n[usage]\nenabled = false\n', "metrics-listener")
    try:
        line = g.proc.stdout.readline()  # printed right after the main listener's line
        assert line.startswith("devassist metrics on http://"), line
        addr = line.split("http://", 1)[1].strip()
        chat(g.url, "echo", "hi", False)
        assert httpx.get(f"{g.url}/metrics").status_code == 404, "not on the main listener"
        r = httpx.get(f"http://{addr}/metrics")
        assert r.status_code == 200
        m = samples(r.text)
        assert value(m, "devassist_requests_total", surface="openai", feature="chat", model="echo", status="200") == 1
    finally:
        assert g.stop() == 0
    assert not usage_db(g).exists()
