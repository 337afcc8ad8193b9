"""Fixtures that run the real devassist binary on real sockets.

`Gateway` starts `devassist serve --listen 127.0.0.1:0` with a temporary config and reads the
`devassist listening on http://…` line to learn its port. The `upstream` gateway serves mock
models; the `front` gateway reaches it through its `openai` and `ollama` backends, so those
backends cross real HTTP.
"""

import os
import pathlib
import select
import signal
import subprocess
import tempfile
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("DEVASSIST_BIN", str(ROOT / "target" / "debug" / "devassist"))


# The default model `scripts/setup.sh` installs, for the tests that run the embedded engine.
MODELS_DIR = pathlib.Path(
    os.environ.get("DEVASSIST_MODELS")
    or pathlib.Path(os.environ.get("XDG_DATA_HOME", pathlib.Path.home() / ".local/share")) / "devassist/models"
)
MODEL_FILE = MODELS_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = "smollm2:135m"


def require_default_model() -> None:
    """Fail the calling test module (not skip) when the default model is missing."""
    if not MODEL_FILE.exists():
        pytest.fail(f"the default model is missing: {MODEL_FILE} (run scripts/setup.sh)", pytrace=False)


class Gateway:
    def __init__(self, config: str, name: str = "gw", env: dict | None = None):
        self.dir = tempfile.TemporaryDirectory(prefix=f"devassist-{name}-")
        self.config_path = pathlib.Path(self.dir.name) / "devassist.toml"
        self.config_path.write_text(config)
        self.log_path = pathlib.Path(self.dir.name) / "stderr.log"
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.setdefault("RUST_LOG", "info")
        # Usage records and keys go to the gateway's own temporary directory, not the
        # user's, unless the test's config names one (the keys CLI then reads the same).
        if "data_dir" not in config:
            full_env.setdefault("DEVASSIST_SERVER__DATA_DIR", self.dir.name)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", str(self.config_path), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=full_env,
            text=True,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.time() + 30
        assert self.proc.stdout is not None
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("devassist listening on "):
                    return line.split(" on ", 1)[1].strip()
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"devassist did not start: {self.logs()}")

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def status(self) -> dict:
        return httpx.get(f"{self.url}/status").json()

    def last_upstream_request(self, backend: str) -> dict:
        """What the mock backend `backend` last received: the exact upstream prompt."""
        for b in self.status()["backends"]:
            if b["name"] == backend:
                return b["backend"]["last_request"]
        raise KeyError(backend)

    def backend_stats(self, name: str) -> dict:
        for b in self.status()["backends"]:
            if b["name"] == name:
                return b["stats"]
        raise KeyError(name)

    def stop(self, sig=signal.SIGTERM, timeout=15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


UPSTREAM_CONFIG = """
[log]
level = "info"

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
text = "one two three four five six seven eight"
tokens = 200
token_delay = "50ms"

[[models]]
name = "echo"
backend = "mock"
capabilities = ["completion", "insert", "tools", "embedding"]
context_length = 4096
[models.prompt]
family = "qwen2.5-coder"

[[models]]
name = "codestral-echo"
backend = "mock"
upstream = "codestral-22b"

[[models]]
name = "chatonly-echo"
backend = "mock"
upstream = "llama3.1-8b-instruct"
capabilities = ["completion", "insert"]

[[models]]
name = "drip"
backend = "drip"

[[models]]
name = "slow"
backend = "mock"
upstream = "slow-3000"

[[models]]
name = "broken"
backend = "mock"

[[models]]
name = "error"
backend = "mock"

[[models]]
name = "garbage"
backend = "mock"

[[models]]
name = "hang"
backend = "mock"
"""


def front_config(upstream_url: str) -> str:
    return f"""
[[backends]]
name = "vllm"
kind = "openai"
url = "{upstream_url}/v1"
request_timeout = "2s"
idle_timeout = "2s"

[[backends]]
name = "ollama"
kind = "ollama"
url = "{upstream_url}"
request_timeout = "2s"
idle_timeout = "2s"

[[models]]
name = "via-openai"
backend = "vllm"
upstream = "echo"
capabilities = ["completion", "insert", "tools", "embedding"]
[models.prompt]
family = "qwen2.5-coder"

[[models]]
name = "via-ollama"
backend = "ollama"
upstream = "echo"
capabilities = ["completion", "insert", "tools", "embedding"]

[[models]]
name = "drip-openai"
backend = "vllm"
upstream = "drip"

[[models]]
name = "drip-ollama"
backend = "ollama"
upstream = "drip"

[[models]]
name = "slow-openai"
backend = "vllm"
upstream = "slow"

[[models]]
name = "hang-openai"
backend = "vllm"
upstream = "hang"

[[models]]
name = "hang-ollama"
backend = "ollama"
upstream = "hang"

[[models]]
name = "error-openai"
backend = "vllm"
upstream = "error"

[[models]]
name = "broken-openai"
backend = "vllm"
upstream = "broken"

[[models]]
name = "broken-ollama"
backend = "ollama"
upstream = "broken"

[[models]]
name = "missing-upstream"
backend = "vllm"
upstream = "no-such-model"
"""


@pytest.fixture(scope="session")
def upstream():
    gw = Gateway(UPSTREAM_CONFIG, "upstream")
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def front(upstream):
    gw = Gateway(front_config(upstream.url), "front")
    yield gw
    gw.stop()


# Every generation test runs against the mock directly and through both upstream protocols.
MODELS = ["echo", "via-openai", "via-ollama"]


@pytest.fixture(params=MODELS)
def model_and_url(request, upstream, front):
    """(model name, gateway url) for the mock directly and through each backend kind."""
    if request.param == "echo":
        return request.param, upstream.url
    return request.param, front.url


def wait_for(check, timeout=15.0, every=0.05):
    """Polls `check` until it returns something truthy, which is returned; fails after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")
