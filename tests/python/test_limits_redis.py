"""Per-key limits shared by two gateway replicas through one real Redis (`[limits] store =
"redis"`): two real gateway processes on one key store, one API key made with `devassist keys
create --rpm N`, the official `openai` client. N requests pass in total across both gateways,
the rest get 429 with Retry-After; with Redis gone, the gateway that fails open admits and
the one that fails closed answers 503 in OpenAI's dialect, and both count it in /metrics.

Needs Debian's redis-server (scripts/setup.sh installs it): without it the test is skipped,
unless DEVASSIST_REQUIRE_TOOLS is set (`make test` sets it), where it fails."""

import os
import pathlib
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import httpx
import openai
import pytest

from conftest import BIN, Gateway

RPM = 4

MODELS = """
[[backends]]
name = "mock"
kind = "mock"

[[models]]
name = "echo"
backend = "mock"
"""


class Redis:
    """redis-server on a free loopback port, without persistence, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="devassist-redis-")
        for _ in range(10):
            self.port = random.randint(20000, 32000)
            self.log = pathlib.Path(self.dir.name) / f"redis-{self.port}.log"
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self.dir.name, "--logfile", str(self.log)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                text = self.log.read_text() if self.log.exists() else ""
                if "Ready to accept connections" in text:
                    return
                if self.proc.poll() is not None:
                    assert "already in use" in text, f"redis-server did not start: {text}"
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError(f"redis-server did not start: {text}")
        raise RuntimeError("redis-server could not get a port in 10 tries")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis():
    if shutil.which("redis-server") is None:
        hint = "redis-server is not installed: scripts/setup.sh installs it"
        if os.environ.get("DEVASSIST_REQUIRE_TOOLS"):
            pytest.fail(f"{hint} (DEVASSIST_REQUIRE_TOOLS is set)", pytrace=False)
        pytest.skip(hint)
    r = Redis()
    yield r
    r.stop()
    r.dir.cleanup()


def replica(name: str, keys_db: pathlib.Path, redis: Redis, prefix: str, on_error: str) -> Gateway:
    return Gateway(
        f"""
[auth]
mode = "api_keys"
keys_db = "{keys_db}"

[limits]
store = "redis"
redis_url = "{redis.url}"
key_prefix = "{prefix}"
on_redis_error = "{on_error}"
redis_timeout = "500ms"
{MODELS}""",
        name=name,
    )


def create_key(gw: Gateway, *args: str) -> str:
    done = subprocess.run(
        [BIN, "keys", "--config", str(gw.config_path), "create", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for_key(key: str, *gateways: Gateway):
    """Each gateway sees the CLI's new key within a second; listing models counts no limit."""
    deadline = time.monotonic() + 5
    for gw in gateways:
        while httpx.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code != 200:
            assert time.monotonic() < deadline, f"{gw.url} does not accept the new key"
            time.sleep(0.02)


def metric(gw: Gateway, admin: str, name: str, labels: str) -> float:
    text = httpx.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_two_gateways_share_one_rate_limit_through_redis(redis, tmp_path):
    keys_db = tmp_path / "keys.db"
    prefix = f"pytest:{uuid.uuid4().hex}:"
    a = replica("redis-a", keys_db, redis, prefix, "open")
    b = replica("redis-b", keys_db, redis, prefix, "closed")
    try:
        key = create_key(a, "--name", "shared", "--rpm", str(RPM))
        admin = create_key(a, "--name", "ops", "--admin")
        wait_for_key(key, a, b)
        wait_for_key(admin, a, b)
        clients = [
            openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0) for gw in (a, b)
        ]

        passed, limited = 0, []
        for i in range(10):
            try:
                clients[i % 2].completions.create(model="echo", prompt="x", max_tokens=2)
                passed += 1
            except openai.RateLimitError as e:
                limited.append(e)
        assert passed == RPM, "N per minute in total, not N per gateway"
        assert len(limited) == 10 - RPM
        for e in limited:
            assert f"{RPM} requests per minute" in e.message
            # One request comes back every 60 / RPM = 15 s.
            assert 1 <= int(e.response.headers["retry-after"]) <= 15
        refused = sum(
            metric(gw, admin, "devassist_rejected_requests_total", 'surface="openai",reason="rate_limited"')
            for gw in (a, b)
        )
        assert refused == 10 - RPM

        # Redis gone: `open` admits without checking (the key is over its limit), `closed`
        # answers 503 with Retry-After in OpenAI's error shape.
        redis.stop()
        done = clients[0].completions.create(model="echo", prompt="x", max_tokens=2)
        assert done.choices[0].text
        with pytest.raises(openai.InternalServerError) as e:
            clients[1].completions.create(model="echo", prompt="x", max_tokens=2)
        assert e.value.status_code == 503
        assert e.value.response.headers["retry-after"] == "1"
        assert "cannot check this API key's limits" in e.value.message
        assert (e.value.type, e.value.code) == ("api_error", "overloaded"), e.value.body
        assert metric(a, admin, "devassist_limit_store_fallbacks_total", 'policy="open"') == 1
        assert metric(b, admin, "devassist_limit_store_fallbacks_total", 'policy="closed"') == 1
        assert metric(a, admin, "devassist_limit_store_errors_total", 'op="admit"') >= 1
        assert "The limit store (Redis) failed" in a.logs()
    finally:
        a.stop()
        b.stop()
