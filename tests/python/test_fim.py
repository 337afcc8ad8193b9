"""Fill-in-the-middle end to end: the gateway renders each model family's FIM layout (or a
hole-filler chat prompt for chat-only models) and the exact upstream prompt is read back from
the mock backend. Also Continue's autocomplete flow and feature switches."""

import json

import httpx
import openai
import ollama
import pytest

from conftest import Gateway, UPSTREAM_CONFIG

QWEN_FIM = "<|fim_prefix|>def fib(n):<|fim_suffix|>\n    return r\n<|fim_middle|>"


def test_ollama_generate_suffix_renders_the_family_layout(upstream):
    r = ollama.Client(host=upstream.url).generate(model="echo", prompt="def fib(n):", suffix="\n    return r\n")
    assert r.done
    sent = upstream.last_upstream_request("mock")
    assert sent["prompt"]["prompt"] == QWEN_FIM
    assert sent["prompt"]["raw"] is True and sent["prompt"]["suffix"] is None
    assert "<|fim_middle|>" in sent["stop"] and "<|endoftext|>" in sent["stop"]


def test_openai_completions_suffix_renders_the_family_layout(upstream):
    c = openai.OpenAI(base_url=f"{upstream.url}/v1", api_key="x", max_retries=0)
    c.completions.create(model="echo", prompt="def fib(n):", suffix="\n    return r\n", max_tokens=32)
    sent = upstream.last_upstream_request("mock")
    assert sent["prompt"]["prompt"] == QWEN_FIM
    assert sent["max_tokens"] == 32


def test_codestral_is_suffix_first(upstream):
    ollama.Client(host=upstream.url).generate(model="codestral-echo", prompt="a = 1\n", suffix="\nprint(a)")
    sent = upstream.last_upstream_request("mock")
    assert sent["prompt"]["prompt"] == "[SUFFIX]\nprint(a)[PREFIX]a = 1\n"
    assert "[PREFIX]" in sent["stop"]


def test_chat_only_model_gets_a_hole_filler_chat(upstream):
    ollama.Client(host=upstream.url).generate(model="chatonly-echo", prompt="x = ", suffix="\ny = x")
    sent = upstream.last_upstream_request("mock")
    messages = sent["prompt"]["messages"]
    assert messages[0]["role"] == "system"
    assert "x = " in messages[-1]["content"] and "y = x" in messages[-1]["content"]


def test_raw_prompts_pass_untouched(upstream):
    ollama.Client(host=upstream.url).generate(model="echo", prompt="<PRE> a <SUF>b <MID>", raw=True)
    sent = upstream.last_upstream_request("mock")
    assert sent["prompt"]["prompt"] == "<PRE> a <SUF>b <MID>"
    assert sent["stop"] == []


@pytest.mark.parametrize("model", ["via-openai", "via-ollama"])
def test_fim_reaches_the_upstream_rendered_once(front, upstream, model):
    ollama.Client(host=front.url).generate(model=model, prompt="def fib(n):", suffix="\n    return r\n")
    sent = upstream.last_upstream_request("mock")
    # via-openai: the front renders and sends a raw prompt; via-ollama: the front passes the
    # suffix through and the upstream (an Ollama-speaking server) renders it.
    assert sent["prompt"]["prompt"] == QWEN_FIM


def test_continue_autocomplete_flow(upstream):
    """What Continue does with provider ollama: /api/show, then server-side FIM."""
    show = httpx.post(f"{upstream.url}/api/show", json={"name": "echo"}).json()
    assert ".Suffix" in show["template"], "Continue would fall back to client-side FIM"
    stops = [l.split(None, 1)[1] for l in show["parameters"].splitlines() if l.startswith("stop")]
    assert '"<|endoftext|>"' in stops
    body = {
        "model": "echo",
        "prompt": "import os\n\ndef main():\n    ",
        "suffix": "\n",
        "options": {"temperature": 0.01, "num_predict": 4096, "stop": ["/src/", "```"], "num_ctx": 8192},
        "keep_alive": 1800,
    }
    with httpx.stream("POST", f"{upstream.url}/api/generate", json=body) as r:
        lines = [l for l in r.iter_lines() if l]
    assert r.status_code == 200 and '"done":true' in lines[-1]
    sent = upstream.last_upstream_request("mock")
    assert sent["prompt"]["prompt"] == "<|fim_prefix|>import os\n\ndef main():\n    <|fim_suffix|>\n<|fim_middle|>"
    assert "/src/" in sent["stop"] and "<|fim_pad|>" in sent["stop"]


def test_long_prefix_is_trimmed_to_the_context(upstream):
    prefix = "".join(f"line_{i} = {i}\n" for i in range(5000))
    ollama.Client(host=upstream.url).generate(model="echo", prompt=prefix, suffix="\nend()", options={"num_predict": 64})
    sent = upstream.last_upstream_request("mock")["prompt"]["prompt"]
    # context_length is 4096 tokens: the prefix keeps its end, the suffix its start.
    assert len(sent) < len(prefix)
    assert sent.endswith("line_4999 = 4999\n<|fim_suffix|>\nend()<|fim_middle|>")
    assert "line_0 = 0\n" not in sent


def test_feature_switched_off_is_403_naming_it():
    cfg = UPSTREAM_CONFIG + "\n[features.code_completion]\nenabled = false\n[features.chat]\nmax_tokens = 2\n"
    gw = Gateway(cfg, "features")
    try:
        r = httpx.post(f"{gw.url}/api/generate", json={"model": "echo", "prompt": "x", "stream": False})
        assert r.status_code == 403 and "code_completion" in r.json()["error"]
        r = httpx.post(f"{gw.url}/v1/completions", json={"model": "echo", "prompt": "x"})
        assert r.status_code == 403 and "code_completion" in r.json()["error"]["message"]
        # Chat is on, and its max_tokens default applies when the request sets none.
        r = httpx.post(f"{gw.url}/api/chat", json={"model": "echo", "stream": False, "messages": [{"role": "user", "content": "a b c d"}]})
        assert r.status_code == 200 and r.json()["message"]["content"] == "a b"
        assert r.json()["done_reason"] == "length"
    finally:
        gw.stop()


def test_a_stream_cut_at_a_stop_string_counts_as_completed_not_cancelled(tmp_path):
    """An upstream that ignores stop strings (fake_backend.py streams `tok0 tok1 …`): the
    gateway cuts the answer at the stop and drops the upstream; /status must count that
    request as completed, not as a client cancellation."""
    import sys
    import pathlib
    fake = pathlib.Path(__file__).with_name("fake_backend.py")
    config = f"""
[[backends]]
name = "fake"
kind = "openai"
[backends.lifecycle]
provider = "process"
command = {json.dumps([sys.executable, str(fake), "--tokens", "50"])}
ready_line = "fake-backend listening on "

[[models]]
name = "coder"
backend = "fake"
capabilities = ["completion", "insert"]
[models.prompt]
family = "qwen2.5-coder"
"""
    gw = Gateway(config, "stopcut")
    try:
        parts = ollama.Client(host=gw.url).generate(
            model="coder", prompt="def f():", suffix="\n", stream=True,
            options={"stop": ["tok3"], "temperature": 0},
        )
        text = "".join(p["response"] for p in parts)
        assert text == "tok0 tok1 tok2 "
        stats = gw.backend_stats("fake")
        assert (stats["completed"], stats["cancelled"]) == (1, 0), stats
    finally:
        gw.stop()
