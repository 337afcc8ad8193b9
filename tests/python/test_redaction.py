"""Secret redaction and expanded logging, on the real binary with the official `openai` client.

A fake OpenAI-compatible upstream records every request it gets and echoes the last user
message back (streamed in 5-character pieces, so placeholders arrive split across chunks; with
tools, as a tool call whose arguments arrive in 7-character deltas). The gateway reaches it
twice: as `remote`, at `http://remote.devassist.test/v1` through the fake itself acting as the
forward proxy (a host that is not loopback: redacted in `auto` mode), and as `local`, at
`http://127.0.0.1:PORT/v1` (loopback: not redacted).

Secrets are built from pieces at run time so that no scanner takes this file for a leak.
"""

import http.server
import json
import pathlib
import socketserver
import tempfile
import threading
import urllib.parse

import httpx
import openai
import pytest

from conftest import Gateway, wait_for

GITHUB_TOKEN = "ghp_" + "Q7w8E9r0" * 5
DB_PASSWORD = "hunter2-" + "horse" * 2
PROMPT = f'Deploy with GITHUB_TOKEN={GITHUB_TOKEN} and db_password = "{DB_PASSWORD}" please.'
REMOTE_HOST = "remote.devassist.test"


class Upstream:
    """The fake upstream, on a thread; `requests` holds (host, path, body) of each call."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, "application/json", json.dumps({"object": "list", "data": []}).encode())

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                # A forward proxy gets the absolute URI; a server the path and a Host header.
                host = url.hostname or self.headers.get("host", "").split(":")[0]
                outer.requests.append((host, url.path, body))
                user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
                if body.get("tools"):
                    name = body["tools"][0]["function"]["name"]
                    self._tool_call(body, name, json.dumps({"text": user}))
                else:
                    self._text(body, user)

            def _send(self, status, content_type, data):
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, delta, finish=None):
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
                return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}

            def _sse(self, chunks):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for c in chunks:
                    self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def _whole(self, message, finish):
                answer = {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
                }
                self._send(200, "application/json", json.dumps(answer).encode())

            def _text(self, body, text):
                if not body.get("stream"):
                    return self._whole({"role": "assistant", "content": text}, "stop")
                pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
                self._sse(
                    [self._chunk({"role": "assistant", "content": ""})]
                    + [self._chunk({"content": p}) for p in pieces]
                    + [self._chunk({}, "stop")]
                )

            def _tool_call(self, body, name, arguments):
                call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
                if not body.get("stream"):
                    return self._whole({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
                head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
                deltas = [arguments[i : i + 7] for i in range(0, len(arguments), 7)]
                self._sse(
                    [self._chunk({"role": "assistant", "tool_calls": [head]})]
                    + [self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": d}}]}) for d in deltas]
                    + [self._chunk({}, "tool_calls")]
                )

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self, host):
        return [body for h, _, body in self.requests if h == host][-1]

    def close(self):
        self.server.shutdown()


def config(port: int, extra: str = "") -> str:
    return f"""
{extra}
[engine]
enabled = false

[[backends]]
name = "remote"
kind = "openai"
url = "http://{REMOTE_HOST}/v1"
proxy = "http://127.0.0.1:{port}"

[[backends]]
name = "local"
kind = "openai"
url = "http://127.0.0.1:{port}/v1"
proxy = "none"

[[models]]
name = "remote-model"
backend = "remote"
capabilities = ["completion", "tools"]

[[models]]
name = "local-model"
backend = "local"
capabilities = ["completion", "tools"]
"""


@pytest.fixture(scope="module")
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture(scope="module")
def gateway(upstream):
    g = Gateway(config(upstream.port), name="redact")
    yield g
    g.stop()


def client(g: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0)


def sent_text(body: dict) -> str:
    return json.dumps(body)


@pytest.mark.parametrize("stream", [False, True])
def test_a_remote_backend_never_sees_the_secrets_and_the_client_gets_them_back(gateway, upstream, stream):
    c = client(gateway)
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        answer = "".join(
            ch.choices[0].delta.content or ""
            for ch in c.chat.completions.create(model="remote-model", messages=messages, stream=True)
            if ch.choices
        )
    else:
        answer = c.chat.completions.create(model="remote-model", messages=messages).choices[0].message.content
    got = sent_text(upstream.last(REMOTE_HOST))
    assert GITHUB_TOKEN not in got and DB_PASSWORD not in got
    assert "<SECRET_GITHUB_TOKEN_1>" in got and "<SECRET_PASSWORD_1>" in got
    # The upstream echoed the placeholders (split across chunks when streamed): restored.
    assert answer == PROMPT


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_arguments_are_restored_from_their_deltas(gateway, upstream, stream):
    c = client(gateway)
    tools = [{"type": "function", "function": {"name": "deploy", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        args = ""
        for ch in c.chat.completions.create(model="remote-model", messages=messages, tools=tools, stream=True):
            for call in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                args += call.function.arguments or ""
    else:
        msg = c.chat.completions.create(model="remote-model", messages=messages, tools=tools).choices[0].message
        args = msg.tool_calls[0].function.arguments
    assert GITHUB_TOKEN not in sent_text(upstream.last(REMOTE_HOST))
    assert json.loads(args) == {"text": PROMPT}


def test_a_loopback_backend_gets_the_prompt_as_it_is_in_auto_mode(gateway, upstream):
    answer = (
        client(gateway)
        .chat.completions.create(model="local-model", messages=[{"role": "user", "content": PROMPT}])
        .choices[0]
        .message.content
    )
    got = sent_text(upstream.last("127.0.0.1"))
    assert GITHUB_TOKEN in got and "<SECRET_" not in got
    assert answer == PROMPT


def test_redactions_are_counted_by_kind_and_never_logged(gateway, upstream):
    client(gateway).chat.completions.create(model="remote-model", messages=[{"role": "user", "content": PROMPT}])
    metrics = httpx.get(f"{gateway.url}/metrics").text
    counts = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("devassist_secrets_redacted_total{")
    }
    assert counts['kind="github_token"'] >= 1 and counts['kind="password"'] >= 1
    assert counts['kind="jwt"'] == 0
    logs = gateway.logs()
    assert "Secrets replaced by placeholders" in logs
    assert GITHUB_TOKEN not in logs and DB_PASSWORD not in logs


def test_mode_off_and_a_backends_own_setting(upstream):
    extra = '[redaction]\nmode = "off"\n'
    cfg = config(upstream.port, extra).replace('name = "local"\n', 'name = "local"\nredact_secrets = true\n')
    g = Gateway(cfg, name="redact-off")
    try:
        c = client(g)
        for model in ("remote-model", "local-model"):
            c.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
        assert GITHUB_TOKEN in sent_text(upstream.last(REMOTE_HOST)), "off: nothing redacted"
        assert GITHUB_TOKEN not in sent_text(upstream.last("127.0.0.1")), "the backend's own setting wins"
    finally:
        g.stop()


def read_lines(path: pathlib.Path, n: int) -> list:
    def ready():
        if not path.exists():
            return None
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return lines if len(lines) >= n else None

    return wait_for(ready, timeout=10)


def test_expanded_log_writes_the_prompt_and_answer_redacted(upstream):
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "expanded.jsonl"
        g = Gateway(config(upstream.port, f'[log]\nexpanded = true\nexpanded_file = "{path}"\n'), name="expanded")
        try:
            c = client(g)
            # A loopback backend gets the secret; the log never does.
            answer = c.chat.completions.create(
                model="local-model",
                messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
                extra_headers={"x-request-id": "expanded-1"},
            )
            assert answer.choices[0].message.content == PROMPT
            [line] = read_lines(path, 1)
            text = path.read_text()
            assert GITHUB_TOKEN not in text and DB_PASSWORD not in text
            assert line["request_id"] == "expanded-1"
            assert line["caller"] == "local"
            assert line["surface"] == "openai"
            assert line["feature"] == "chat"
            assert line["model"] == "local-model"
            assert line["backend"] == "local"
            assert line["status"] == 200
            assert line["usage"] == {"prompt_tokens": 7, "completion_tokens": 5}
            redacted = PROMPT.replace(GITHUB_TOKEN, "<SECRET_GITHUB_TOKEN_1>").replace(
                DB_PASSWORD, "<SECRET_PASSWORD_1>"
            )
            assert line["request"]["messages"][0]["content"] == "Be brief."
            assert line["request"]["messages"][1]["content"] == redacted
            assert line["response"]["text"] == redacted
            assert line["secrets_redacted"] == 4
            assert line["time"].endswith("Z")
            metrics = httpx.get(f"{g.url}/metrics").text
            assert "devassist_expanded_log_records_written_total 1" in metrics
        finally:
            g.stop()


def test_expanded_log_in_gitlab_flag_mode_follows_the_header(upstream):
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "expanded.jsonl"
        extra = f'[log]\nexpanded = "gitlab_flag"\nexpanded_file = "{path}"\n'
        g = Gateway(config(upstream.port, extra), name="expanded-flag")
        try:
            c = client(g)
            messages = [{"role": "user", "content": "no flag"}]
            c.chat.completions.create(model="local-model", messages=messages)
            messages = [{"role": "user", "content": "with the flag"}]
            c.chat.completions.create(
                model="local-model",
                messages=messages,
                extra_headers={"x-gitlab-enabled-feature-flags": "some_flag,expanded_ai_logging"},
            )
            [line] = read_lines(path, 1)
            assert line["response"]["text"] == "with the flag"
        finally:
            g.stop()
        # Written at shutdown at the latest: still one line.
        assert len(path.read_text().splitlines()) == 1
