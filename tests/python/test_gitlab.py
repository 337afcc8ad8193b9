"""The GitLab AI Gateway surface end to end, with the real binary.

Requests are the fixtures in tests/fixtures/gitlab/, written as GitLab self-managed sends them
for self-hosted models. Upstreams are small recording OpenAI-compatible servers (so the tests
assert the exact upstream request body) and the mock backend in echo mode.
"""

import json
import pathlib
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import Gateway, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "gitlab"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class Recorder:
    """An OpenAI-compatible upstream that records every request and answers with `chunks`
    (joined for non-streaming calls, one SSE chunk each when streaming)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.chunks: list[str] = ["ok"]
        self.delay = 0.0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                recorder.requests.append({
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "client_port": self.client_address[1],
                })
                chat = self.path.endswith("/chat/completions")
                time.sleep(recorder.delay)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for c in recorder.chunks:
                        choice = {"index": 0, "delta": {"content": c}} if chat else {"index": 0, "text": c}
                        choice["finish_reason"] = None
                        self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                        self.wfile.flush()
                    last = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
                    last["finish_reason"] = "stop"
                    self.wfile.write(f"data: {json.dumps({'choices': [last]})}\n\ndata: [DONE]\n\n".encode())
                    self.close_connection = True
                    return
                text = "".join(recorder.chunks)
                choice = {"index": 0, "message": {"role": "assistant", "content": text}} if chat else {"index": 0, "text": text}
                choice["finish_reason"] = "stop"
                payload = json.dumps({
                    "id": "x", "object": "chat.completion" if chat else "text_completion", "created": 1,
                    "model": body.get("model"), "choices": [choice],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, chunks: list[str], delay: float = 0.0):
        self.requests.clear()
        self.chunks = chunks
        self.delay = delay

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(admin: Recorder, self_hosted: Recorder, dead_port: int, extra: str = "") -> str:
    return f"""
[[backends]]
name = "rec"
kind = "openai"
url = "{admin.url}/v1"
request_timeout = "5s"

[[backends]]
name = "mock"
kind = "mock"
[backends.mock]
mode = "echo"
tokens = 4096

[[models]]
name = "codestral:22b"
backend = "rec"
upstream = "Codestral-22B-v0.1"

[[models]]
name = "llama3-instruct"
backend = "rec"
upstream = "Meta-Llama-3-8B-Instruct"
[models.prompt]
family = "llama3"

[[models]]
name = "echo"
backend = "mock"

[[models]]
name = "echo-fim"
backend = "mock"
upstream = "echo"
[models.prompt]
fim_template = "<PRE>{{prefix}}<SUF>{{suffix}}<MID>"

[[models]]
name = "error"
backend = "mock"

[[models]]
name = "broken"
backend = "mock"

[features.code_completion]
model = "codestral:22b"

[features.code_generation]
model = "llama3-instruct"
max_tokens = 300

[features.chat]
model = "llama3-instruct"

[gitlab]
allowed_endpoints = ["{self_hosted.url}/v1/", "http://127.0.0.1:{dead_port}/v1"]
{extra}
"""


@pytest.fixture(scope="module")
def env():
    admin, self_hosted = Recorder(), Recorder()
    dead = free_port()
    gw = Gateway(config(admin, self_hosted, dead), "gitlab")
    yield gw, admin, self_hosted, dead
    gw.stop()
    admin.close()
    self_hosted.close()


def post(gw: Gateway, path: str, body, **kw) -> httpx.Response:
    return httpx.post(f"{gw.url}{path}", json=body, timeout=20, **kw)


# The Codestral family's stops, the file-header stop its `+++++ path` layout adds, then the
# stops every completion gets.
CODESTRAL_STOPS = ["[PREFIX]", "[SUFFIX]", "[MIDDLE]", "[INST]", "[/INST]", "</s>", "\n+++++ ", "```", "#- coding: utf-8"]


def test_self_hosted_completion_goes_to_the_allow_listed_endpoint(env):
    gw, admin, hosted, _ = env
    hosted.reset([" bool:\n    return n % 2 == 0\n\n\nprint(is_even(4))\n"])
    admin.reset(["never"])
    body = fixture("v2_completion_self_hosted.json")
    body["model_endpoint"] = f"{hosted.url}/v1"
    r = post(gw, "/v2/code/completions", body, headers={"X-Request-ID": "corr-123"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "corr-123"
    assert admin.requests == []
    [up] = hosted.requests
    assert up["path"] == "/v1/completions"
    assert up["headers"]["authorization"] == "Bearer sk-self-hosted"
    assert up["headers"]["x-request-id"] == "corr-123"
    assert up["body"] == {
        "model": "Codestral-22B-v0.1",
        "prompt": "[SUFFIX]\n\nprint(is_even(4))\n[PREFIX]+++++ app/even.py\ndef is_even(n: int) ->",
        "max_tokens": 128,
        "stop": CODESTRAL_STOPS,
        "stream": False,
    }
    out = r.json()
    assert list(out) == ["id", "model", "experiments", "object", "created", "choices"]
    assert out["id"] == "id" and out["object"] == "text_completion" and out["experiments"] == []
    assert isinstance(out["created"], int)
    # The suggestion stops where the model starts repeating the code after the cursor.
    assert out["choices"] == [{"text": " bool:\n    return n % 2 == 0", "index": 0, "finish_reason": "length"}]
    assert out["model"] == {
        "engine": "agent",
        "name": "Codestral 22B Code Completions",
        "lang": "python",
        # Estimated: prefix 22 characters → 8 tokens, suffix 19 characters plus a digit → 8;
        # output as the upstream counted it.
        "tokens_consumption_metadata": {
            "input_tokens": 16, "output_tokens": 5, "context_tokens_sent": 0, "context_tokens_used": 0,
        },
    }


def test_self_hosted_completion_stream_is_raw_text(env):
    gw, _, hosted, _ = env
    hosted.reset([" bool:", "\n    return n", " % 2 == 0", "[SUF", "FIX]print(", "never sent"])
    body = fixture("v2_completion_self_hosted.json") | {"stream": True, "model_endpoint": f"{hosted.url}/v1"}
    with httpx.stream("POST", f"{gw.url}/v2/completions", json=body, timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        text = r.read().decode()
    assert text == " bool:\n    return n % 2 == 0"
    [up] = hosted.requests
    assert up["body"]["stream"] is True and up["body"]["stream_options"] == {"include_usage": True}


def test_endpoints_match_after_normalising_and_share_one_client(env):
    gw, admin, hosted, _ = env
    hosted.reset(["x"])
    host, port = hosted.url.removeprefix("http://").split(":")
    for endpoint in (f"{hosted.url}/v1", f"HTTP://{host}:{port}/v1/", f"{hosted.url}/v1//"):
        body = fixture("v2_completion_self_hosted.json") | {"model_endpoint": endpoint}
        assert post(gw, "/v2/code/completions", body).status_code == 200
    assert len(hosted.requests) == 3
    # One cached client per endpoint: its pooled keep-alive connection is reused.
    assert len({r["client_port"] for r in hosted.requests}) == 1
    assert admin.requests == []


def test_endpoint_off_the_allow_list_is_never_contacted(env):
    gw, admin, hosted, _ = env
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    hosted_port = hosted.url.rsplit(":", 1)[1]
    try:
        for endpoint in (
            f"http://127.0.0.1:{port}/v1",
            f"http://127.0.0.1:{port}/v1/../v1",
            f"http://user:pw@127.0.0.1:{hosted_port}/v1",  # allow-listed host, but with credentials
            f"http://127.0.0.1:{hosted_port}/v1?redirect=http://127.0.0.1:{port}",
            f"http://127.0.0.1:{hosted_port}/v2",
        ):
            admin.reset([" bool:"])
            hosted.reset(["never"])
            body = fixture("v2_completion_self_hosted.json") | {"model_endpoint": endpoint}
            r = post(gw, "/v2/code/completions", body)
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["text"] == " bool:"
            assert hosted.requests == [], endpoint
            # Served by the admin's model for the feature, without the client's key.
            [up] = admin.requests
            assert up["body"]["model"] == "Codestral-22B-v0.1"
            assert "authorization" not in up["headers"]
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


def test_ide_completion_with_context_uses_the_configured_model(env):
    gw, admin, _, _ = env
    admin.reset(["clamp(x, 0, 100)"])
    r = post(gw, "/v2/completions", fixture("v2_completion_ide_context.json"))
    assert r.status_code == 200, r.text
    [up] = admin.requests
    assert up["path"] == "/v1/completions"
    assert up["body"]["prompt"] == (
        "[SUFFIX]\n}\n[PREFIX]+++++ src/util.rs\n"
        "pub fn clamp(v: i32, lo: i32, hi: i32) -> i32 {\n    v.max(lo).min(hi)\n}"
        "\n\n+++++ src/lib.rs\n"
        "use crate::util::clamp;\n\npub fn score(x: i32) -> i32 {\n    "
    )
    out = r.json()
    assert out["choices"] == [{"text": "clamp(x, 0, 100)", "index": 0, "finish_reason": "length"}]
    assert out["model"]["engine"] == "litellm" and out["model"]["name"] == "codestral:22b"
    assert out["model"]["lang"] == "rust"
    meta = out["model"]["tokens_consumption_metadata"]
    assert meta["context_tokens_sent"] == meta["context_tokens_used"] > 0


def test_prompt_version_3_messages_are_sent_as_they_are(env):
    gw, admin, _, _ = env
    admin.reset(["Sure:\n```go\nfmt.Println(\"hi\")\n```\n"])
    body = fixture("v2_completion_messages.json")
    r = post(gw, "/v2/code/completions", body)
    assert r.status_code == 200, r.text
    [up] = admin.requests
    assert up["path"] == "/v1/chat/completions"
    assert up["body"]["messages"] == body["prompt"]
    assert r.json()["choices"][0]["text"] == 'fmt.Println("hi")'


def test_self_hosted_generation(env):
    gw, admin, hosted, _ = env
    hosted.reset(["Here is the function:\n```python\ndef hypotenuse(a, b):\n    return math.hypot(a, b)\n```\n"])
    body = fixture("v2_generation_self_hosted.json") | {"model_endpoint": f"{hosted.url}/v1"}
    r = post(gw, "/v2/code/generations", body)
    assert r.status_code == 200, r.text
    [up] = hosted.requests
    assert up["path"] == "/v1/chat/completions"
    assert up["body"]["model"] == "Mistral-7B-Instruct-v0.3"
    assert up["body"]["max_tokens"] == 300
    # Mistral instruct templates take no system message: the rules open the user message.
    [msg] = up["body"]["messages"]
    assert msg["role"] == "user"
    assert msg["content"].startswith("You write Python code that is inserted into an existing file (`app/math.py`).")
    assert msg["content"].endswith(
        "Code before the insertion point:\n<before>\nimport math\n\n# compute the hypotenuse of a right triangle\n"
        "</before>\n\nInstruction: Write a function hypotenuse(a, b)."
    )
    out = r.json()
    assert "tokens_consumption_metadata" not in out["model"]
    assert out["model"] == {"engine": "agent", "name": "Mistral-7B-Instruct-v0.3 Code Generations", "lang": "python"}
    assert out["choices"] == [
        {"text": "def hypotenuse(a, b):\n    return math.hypot(a, b)", "index": 0, "finish_reason": "length"}
    ]


def test_generation_with_the_configured_chat_model(env):
    gw, admin, _, _ = env
    admin.reset(["def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)"])
    body = fixture("v2_generation_self_hosted.json")
    del body["model_endpoint"]
    r = post(gw, "/v2/code/generations", body)
    assert r.status_code == 200, r.text
    [up] = admin.requests
    assert up["body"]["model"] == "Meta-Llama-3-8B-Instruct"
    assert [m["role"] for m in up["body"]["messages"]] == ["system", "user"]
    assert r.json()["choices"][0]["text"].startswith("def hypotenuse(a, b):")


def test_v3_completion_shape(env):
    gw, admin, _, _ = env
    admin.reset([" bool:"])
    r = post(gw, "/v3/code/completions", fixture("v3_completion.json"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert list(out) == ["choices", "metadata"]
    assert out["choices"] == [{"text": " bool:", "index": 0, "finish_reason": "length"}]
    assert out["metadata"]["model"] == {"engine": "agent", "name": "codestral:22b Code Completions", "lang": "python"}
    assert isinstance(out["metadata"]["timestamp"], int)


def test_v4_stream_is_sse_events(env):
    gw, admin, _, _ = env
    admin.reset([" bool:", "\n    return é", "[SUFFIX]"])
    with httpx.stream("POST", f"{gw.url}/v4/code/suggestions", json=fixture("v4_suggestion_stream.json"), timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-streaming-format"] == "sse"
        raw = r.read().decode()
    ts = re.search(r'"timestamp": (\d+)', raw)
    assert ts, raw
    assert raw == (
        "event: stream_start\r\n"
        'data: {"metadata": {"model": {"engine": "agent", "name": "codestral:22b Code Completions"}, '
        f'"timestamp": {ts.group(1)}}}}}\r\n\r\n'
        "event: content_chunk\r\n"
        'data: {"choices": [{"delta": {"content": " bool:"}, "index": 0}]}\r\n\r\n'
        "event: content_chunk\r\n"
        'data: {"choices": [{"delta": {"content": "\\n    return \\u00e9"}, "index": 0}]}\r\n\r\n'
        "event: stream_end\r\ndata: null\r\n\r\n"
    )


def test_chat_agent_through_the_self_hosted_endpoint(env):
    gw, admin, hosted, _ = env
    hosted.reset(["It prints 1."])
    body = fixture("v1_chat_agent.json")
    body["prompt_components"][0]["payload"]["model_endpoint"] = f"{hosted.url}/v1"
    r = post(gw, "/v1/chat/agent", body)
    assert r.status_code == 200, r.text
    [up] = hosted.requests
    assert up["path"] == "/v1/chat/completions"
    assert up["body"]["model"] == "Mistral-7B-Instruct-v0.3"
    assert up["body"]["messages"] == body["prompt_components"][0]["payload"]["content"]
    out = r.json()
    assert out["response"] == "It prints 1."
    assert out["metadata"]["provider"] == "litellm" and out["metadata"]["model"] == "mistral"
    assert isinstance(out["metadata"]["timestamp"], int)


def test_chat_stream_is_raw_text_through_the_mock(env):
    gw, _, _, _ = env
    body = fixture("v1_chat_agent.json") | {"stream": True}
    payload = body["prompt_components"][0]["payload"]
    del payload["model_endpoint"]
    payload["model_identifier"] = "custom_openai/echo"
    payload["content"] = "what does print(1) do"
    with httpx.stream("POST", f"{gw.url}/v1/chat/explain_code", json=body, timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.read().decode() == "what does print(1) do"


def test_mock_echo_shows_the_exact_fim_prompt(env):
    gw, _, _, _ = env
    body = fixture("v2_completion_self_hosted.json")
    del body["model_endpoint"]
    body["model_identifier"] = "custom_openai/echo-fim"
    r = post(gw, "/v2/code/completions", body)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "<PRE>def is_even(n: int) -><SUF>\n\nprint(is_even(4))\n<MID>"


def test_validation_errors_are_fastapi_422s(env):
    gw, _, _, _ = env
    r = post(gw, "/v2/code/completions", {"current_file": {"file_name": "a.py", "content_above_cursor": 1},
                                          "stream": "perhaps", "prompt_version": 2, "prompt": 5})
    assert r.status_code == 422
    assert r.json() == {"detail": [
        {"type": "string_type", "loc": ["body", "current_file", "content_above_cursor"],
         "msg": "Input should be a valid string", "input": 1},
        {"type": "missing", "loc": ["body", "current_file", "content_below_cursor"], "msg": "Field required",
         "input": {"file_name": "a.py", "content_above_cursor": 1}},
        {"type": "bool_parsing", "loc": ["body", "stream"],
         "msg": "Input should be a valid boolean, unable to interpret input", "input": "perhaps"},
        {"type": "string_type", "loc": ["body", "prompt"], "msg": "Input should be a valid string", "input": 5},
    ]}
    long_name = {"current_file": {"file_name": "x" * 256, "content_above_cursor": "", "content_below_cursor": ""}}
    r = post(gw, "/v2/code/generations", long_name | {"prompt_version": 2})
    assert r.status_code == 422
    assert [(d["type"], d["loc"]) for d in r.json()["detail"]] == [
        ("string_too_long", ["body", "current_file", "file_name"]),
        ("missing", ["body", "prompt"]),
    ]
    r = httpx.post(f"{gw.url}/v4/code/suggestions", content=b'{"prompt_components": [', timeout=10)
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "json_invalid", "loc": ["body", 23], "msg": "JSON decode error",
                                    "input": {}, "ctx": {"error": "Expecting value"}}]}
    r = post(gw, "/v1/chat/agent", {"prompt_components": []})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "too_short"


def test_unknown_chat_invokable_is_404(env):
    gw, _, _, _ = env
    r = post(gw, "/v1/chat/summarize_my_life", fixture("v1_chat_agent.json"))
    assert (r.status_code, r.json()) == (404, {"detail": "Not found"})


def test_upstream_failures_are_inference_failed(env):
    gw, _, _, dead = env
    body = fixture("v2_completion_self_hosted.json")
    del body["model_endpoint"]
    body["model_identifier"] = "custom_openai/error"
    r = post(gw, "/v2/code/completions", body)
    assert (r.status_code, r.json()) == (503, {"detail": "Inference failed"})
    body = fixture("v2_completion_self_hosted.json") | {"model_endpoint": f"http://127.0.0.1:{dead}/v1"}
    r = post(gw, "/v2/code/completions", body)
    assert (r.status_code, r.json()) == (503, {"detail": "Inference failed"})
    chat = fixture("v1_chat_agent.json")
    chat["prompt_components"][0]["payload"]["model_endpoint"] = f"http://127.0.0.1:{dead}/v1"
    r = post(gw, "/v1/chat/agent", chat)
    assert (r.status_code, r.json()) == (503, {"detail": "Inference failed"})


def test_failure_mid_stream_ends_the_raw_stream(env):
    gw, _, _, _ = env
    body = fixture("v1_chat_agent.json") | {"stream": True}
    payload = body["prompt_components"][0]["payload"]
    del payload["model_endpoint"]
    payload["model_identifier"] = "custom_openai/broken"
    payload["content"] = "one two three four five"
    with httpx.stream("POST", f"{gw.url}/v1/chat/agent", json=body, timeout=20) as r:
        assert r.status_code == 200
        assert r.read().decode() == "one two three"


def test_monitoring(env):
    gw, _, _, _ = env
    for path in ("/monitoring/healthz", "/monitoring/ready"):
        r = httpx.get(f"{gw.url}{path}")
        assert (r.status_code, r.json()) == (200, {})
    r = httpx.get(f"{gw.url}/v2/code/completions")
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})


def test_feature_turned_off_is_403(env):
    _, admin, hosted, dead = env
    gw = Gateway(config(admin, hosted, dead, "") .replace(
        "[features.code_generation]\n", "[features.code_generation]\nenabled = false\n"), "gitlab-off")
    try:
        hosted.reset(["never"])
        body = fixture("v2_generation_self_hosted.json") | {"model_endpoint": f"{hosted.url}/v1"}
        r = post(gw, "/v2/code/generations", body)
        assert r.status_code == 403
        assert "code_generation" in r.json()["detail"]
        assert hosted.requests == []
    finally:
        gw.stop()


def test_v2_chat_agent_streams_final_answer_deltas(env):
    gw, admin, hosted, _ = env
    hosted.reset(["It works ", "for negatives é."])
    body = fixture("v2_chat_agent.json")
    body["model_metadata"]["endpoint"] = f"{hosted.url}/v1"
    with httpx.stream("POST", f"{gw.url}/v2/chat/agent", json=body, timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        raw = r.read().decode()
    assert raw == (
        '{"type": "final_answer_delta", "data": {"text": "It works "}}\n'
        '{"type": "final_answer_delta", "data": {"text": "for negatives \\u00e9."}}\n'
    )
    [up] = hosted.requests
    assert up["path"] == "/v1/chat/completions"
    assert up["body"]["model"] == "Mistral-7B-Instruct-v0.3"
    assert up["headers"]["authorization"] == "Bearer sk-self-hosted"
    # Mistral templates take no system message: the rules open the first user message.
    roles = [m["role"] for m in up["body"]["messages"]]
    assert roles == ["user", "assistant", "user"]
    first = up["body"]["messages"][0]["content"]
    assert first.startswith("You are GitLab Duo Chat")
    assert "Not available in this GitLab instance: Merge Requests, Pipelines, Vulnerabilities." in first
    assert first.endswith(
        "What does this code do?\n\nCode I selected in `app/even.py`:\n<file>\n"
        "def is_even(n):\n    return n % 2 == 0\n</file>"
    )
    assert up["body"]["messages"][1:] == [
        {"role": "assistant", "content": "It checks whether n is even."},
        {"role": "user", "content": "And for negative numbers?"},
    ]


def test_v2_chat_agent_model_failure_is_an_error_event(env):
    gw, _, _, dead = env
    body = fixture("v2_chat_agent.json")
    body["model_metadata"]["endpoint"] = f"http://127.0.0.1:{dead}/v1"
    r = post(gw, "/v2/chat/agent", body)
    assert r.status_code == 200
    assert r.text == '{"type": "error", "data": {"message": "Inference failed", "retryable": false}}\n'
    r = post(gw, "/v2/chat/agent", {"messages": "hi"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "list_type"


def test_feature_timeout_applies_to_allow_listed_endpoints(env):
    _, admin, hosted, dead = env
    slow = config(admin, hosted, dead).replace(
        'model = "codestral:22b"\n', 'model = "codestral:22b"\ntimeout = "300ms"\n', 1)
    gw = Gateway(slow, "gitlab-timeout")
    try:
        hosted.reset(["late"], delay=3.0)
        body = fixture("v2_completion_self_hosted.json") | {"model_endpoint": f"{hosted.url}/v1"}
        started = time.monotonic()
        r = post(gw, "/v2/code/completions", body)
        assert (r.status_code, r.json()) == (503, {"detail": "Inference failed"})
        assert time.monotonic() - started < 2.5
        assert len(hosted.requests) == 1
    finally:
        hosted.reset(["ok"])
        gw.stop()


def test_allow_listed_endpoint_is_a_backend_in_status_and_obeys_its_limits(env):
    """An allow-listed endpoint is a pool slot like any backend: /status shows it with its
    stats, and `endpoint_max_concurrent` / `endpoint_max_queue` bound it."""
    _, admin, hosted, dead = env
    limited = config(admin, hosted, dead).replace(
        "[gitlab]\n", "[gitlab]\nendpoint_max_concurrent = 1\nendpoint_max_queue = 0\n", 1)
    gw = Gateway(limited, "gitlab-limits")
    try:
        hosted.reset(["slow"], delay=1.5)
        body = fixture("v2_completion_self_hosted.json") | {"model_endpoint": f"{hosted.url}/v1"}
        results = {}

        def send(name):
            results[name] = post(gw, "/v2/code/completions", body)

        first = threading.Thread(target=send, args=("first",))
        first.start()
        time.sleep(0.5)
        send("second")
        first.join()
        assert results["first"].status_code == 200, results["first"].text
        assert (results["second"].status_code, results["second"].json()) == (503, {"detail": "Inference failed"})
        assert len(hosted.requests) == 1, "the second never reached the endpoint"
        name = f"gitlab:{hosted.url}/v1"
        [slot] = [b for b in gw.status()["backends"] if b["name"] == name]
        assert slot["kind"] == "openai" and slot["provider"] == "always_on"
        assert slot["stats"]["requests"] == 1 and slot["stats"]["completed"] == 1, slot
        assert slot["limits"]["max_concurrent"] == 1, slot
    finally:
        hosted.reset(["ok"])
        gw.stop()
