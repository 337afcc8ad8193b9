"""Authentication with the real binary and the official clients: the safe default (a network
listener without authentication refuses to start, naming both ways out), API keys made with
`devassist keys` and passed by the `ollama` and `openai` Python clients, a revoked key
refused within a second, per-key models, per-key rate limits as 429 with Retry-After, and
admin-only routes."""

import pathlib
import subprocess
import tempfile
import time

import anthropic
import httpx
import ollama
import openai
import pytest

from conftest import BIN, Gateway

MODELS = """
[[backends]]
name = "mock"
kind = "mock"

[[models]]
name = "echo"
backend = "mock"
capabilities = ["completion", "insert"]

[[models]]
name = "other"
backend = "mock"
"""


@pytest.fixture(scope="module")
def data_dir():
    with tempfile.TemporaryDirectory(prefix="devassist-auth-") as d:
        yield pathlib.Path(d)


@pytest.fixture(scope="module")
def gw(data_dir):
    g = Gateway(
        f'[server]\ndata_dir = "{data_dir}"\n[auth]\nmode = "api_keys"\n{MODELS}',
        name="auth",
    )
    yield g
    g.stop()


def keys(gw: Gateway, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN, "keys", "--config", str(gw.config_path), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def create_key(gw: Gateway, *args: str) -> str:
    done = keys(gw, "create", *args)
    assert done.returncode == 0, done.stderr
    assert "shown only now" in done.stderr
    key = done.stdout.strip()
    assert key.startswith("dak_"), key
    # The running gateway sees the CLI's new key within a second.
    created = time.monotonic()
    while httpx.get(f"{gw.url}/api/tags", headers={"x-api-key": key}).status_code != 200:
        assert time.monotonic() - created < 1.0, "a new key not accepted after a second"
        time.sleep(0.02)
    return key


def key_id(key: str) -> str:
    return key[: len("dak_") + 12]


def test_a_network_listener_without_auth_refuses_to_start(tmp_path):
    config = tmp_path / "devassist.toml"
    config.write_text(MODELS)
    done = subprocess.run(
        [BIN, "serve", "--config", str(config), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert 'mode = "api_keys"' in done.stderr, done.stderr
    assert "allow_anonymous = true" in done.stderr, done.stderr
    assert "devassist listening" not in done.stdout

    # Either way out starts it.
    config.write_text("[auth]\nallow_anonymous = true\n" + MODELS)
    proc = subprocess.Popen(
        [BIN, "serve", "--config", str(config), "--listen", "0.0.0.0:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("devassist listening on http://0.0.0.0:")
    finally:
        proc.terminate()
        proc.wait(15)


def test_ollama_client_with_a_key(gw):
    key = create_key(gw, "--name", "ollama-user")
    client = ollama.Client(host=gw.url, headers={"Authorization": f"Bearer {key}"})
    answer = client.generate(model="echo", prompt="def add(a, b):")
    assert answer.response
    with pytest.raises(ollama.ResponseError) as e:
        ollama.Client(host=gw.url).generate(model="echo", prompt="x")
    assert e.value.status_code == 401
    assert "missing API key" in str(e.value)
    # The health check stays open, as Ollama clients probe it.
    assert httpx.get(f"{gw.url}/api/version").status_code == 200


def test_ollama_client_reads_the_key_from_its_environment(gw, monkeypatch):
    key = create_key(gw, "--name", "env-user")
    monkeypatch.setenv("OLLAMA_API_KEY", key)
    client = ollama.Client(host=gw.url)
    assert client.chat(model="echo", messages=[{"role": "user", "content": "hi"}]).message


def test_openai_client_with_a_key_and_its_models(gw):
    key = create_key(gw, "--name", "openai-user", "--models", "echo")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    done = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hello"}]
    )
    assert done.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(
            model="other", messages=[{"role": "user", "content": "hello"}]
        )
    assert "may not use model `other`" in e.value.message
    bad = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="dak_0123456789ab_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_anthropic_client_with_a_key_and_its_models(gw):
    """Claude Code sends its key as `x-api-key`; counting tokens obeys the key's models too."""
    key = create_key(gw, "--name", "claude-user", "--models", "echo")
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    ask = dict(max_tokens=8, messages=[{"role": "user", "content": "hello"}])
    assert client.messages.create(model="echo", **ask).content
    assert client.messages.count_tokens(model="echo", messages=ask["messages"]).input_tokens > 0
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        client.messages.create(model="other", **ask)
    assert "may not use model `other`" in str(e.value)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        client.messages.count_tokens(model="other", messages=ask["messages"])
    assert "may not use model `other`" in str(e.value)
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key="dak_0123456789ab_nope", max_retries=0).messages.create(
            model="echo", **ask
        )


def test_a_revoked_key_stops_within_a_second(gw):
    key = create_key(gw, "--name", "leaving")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    assert client.models.list().data
    done = keys(gw, "revoke", key_id(key))
    assert done.returncode == 0, done.stderr
    revoked_at = time.monotonic()
    while True:
        try:
            client.models.list()
        except openai.AuthenticationError as e:
            assert "revoked" in e.message
            break
        assert time.monotonic() - revoked_at < 1.0, "still accepted after a second"
        time.sleep(0.02)
    listed = keys(gw, "list")
    assert key_id(key) in listed.stdout and "revoked" in listed.stdout
    assert key[len(key_id(key)) + 1 :] not in listed.stdout, "no secrets in lists"


def test_rate_limit_is_a_429_with_retry_after(gw):
    key = create_key(gw, "--name", "tight", "--rpm", "2")
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    for _ in range(2):
        client.completions.create(model="echo", prompt="x", max_tokens=2)
    with pytest.raises(openai.RateLimitError) as e:
        client.completions.create(model="echo", prompt="x", max_tokens=2)
    assert e.value.response.headers["retry-after"] == "30"
    assert "2 requests per minute" in e.value.message


def test_admin_routes_need_an_admin_key(gw):
    user = create_key(gw, "--name", "plain")
    admin = create_key(gw, "--name", "ops", "--admin")
    assert httpx.get(f"{gw.url}/status").status_code == 401
    r = httpx.get(f"{gw.url}/status", headers={"Authorization": f"Bearer {user}"})
    assert r.status_code == 403
    r = httpx.get(f"{gw.url}/status", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json()["backends"]
    r = httpx.post(
        f"{gw.url}/api/pull",
        json={"model": "echo"},
        headers={"Authorization": f"Bearer {user}"},
    )
    assert r.status_code == 403 and "admin API key" in r.json()["error"]
    # Keys over HTTP, for automation.
    r = httpx.post(
        f"{gw.url}/admin/keys",
        json={"name": "bot", "features": ["code_completion"], "rpm": 60},
        headers={"x-api-key": admin},
    )
    assert r.status_code == 201, r.text
    bot = r.json()["key"]
    r = httpx.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {bot}"},
    )
    assert r.status_code == 403 and "chat feature" in r.json()["error"]["message"]
    # `devassist status` passes an admin key.
    done = subprocess.run(
        [BIN, "status", "--url", gw.url, "--api-key", admin],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "mock" in done.stdout
