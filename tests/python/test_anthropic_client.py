"""The official `anthropic` Python SDK against devassist's Anthropic Messages surface
(`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models` with `anthropic-version`), on the
mock backend directly and through devassist's `openai` and `ollama` backends; a recorded
Claude Code request replayed and its event stream compared with Anthropic's documented
sequence; bad input answered with 4xx in Anthropic's shape."""

import json
import pathlib
import time
import uuid

import anthropic
import httpx
import pytest

from conftest import Gateway, UPSTREAM_CONFIG, wait_for

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures/anthropic"

ALIASES = """
[aliases]
"claude-sonnet-*" = "echo"
"claude-haiku-*" = "echo"
"""


def client(url):
    return anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def claude():
    """A gateway whose config maps Claude Code's model names to the echo mock."""
    gw = Gateway(UPSTREAM_CONFIG + ALIASES, "anthropic")
    yield gw
    gw.stop()


def test_messages_create(model_and_url):
    model, url = model_and_url
    r = client(url).messages.create(
        model=model,
        max_tokens=64,
        system="You are terse.",
        messages=[{"role": "user", "content": "ping the gateway"}],
        metadata={"user_id": "u-1"},
        extra_body={"temperature": 0},  # older SDKs' argument, still accepted
    )
    assert r.type == "message" and r.role == "assistant" and r.model == model
    assert [b.type for b in r.content] == ["text"]
    assert r.content[0].text == "ping the gateway"
    assert r.stop_reason == "end_turn" and r.stop_sequence is None
    assert r.usage.output_tokens == 3 and r.usage.input_tokens > 0
    assert r.id.startswith("msg_")


def test_messages_stream(model_and_url):
    model, url = model_and_url
    with client(url).messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "stream these words"}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "stream these words"
    assert final.content[0].text == "stream these words"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


def test_max_tokens_and_stop_sequences(model_and_url):
    model, url = model_and_url
    c = client(url)
    r = c.messages.create(model=model, max_tokens=2, messages=[{"role": "user", "content": "a b c d e"}])
    assert r.content[0].text == "a b" and r.stop_reason == "max_tokens"
    r = c.messages.create(
        model=model, max_tokens=64, stop_sequences=["STOP", "ST"],
        messages=[{"role": "user", "content": "one two STOP three"}],
    )
    assert r.content[0].text == "one two "
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "ST"
    with c.messages.stream(
        model=model, max_tokens=64, stop_sequences=["three"],
        messages=[{"role": "user", "content": "one two three four"}],
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "one two " and final.stop_reason == "stop_sequence" and final.stop_sequence == "three"


WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_tools_round_trip(model_and_url):
    model, url = model_and_url
    c = client(url)
    ask = [{"role": "user", "content": "What is the weather in Paris"}]
    r = c.messages.create(model=model, max_tokens=64, tools=[WEATHER], messages=ask)
    assert r.stop_reason == "tool_use"
    use = next(b for b in r.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id

    with c.messages.stream(model=model, max_tokens=64, tools=[WEATHER], messages=ask,
                           tool_choice={"type": "auto"}) as s:
        final = s.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.input == {"city": "Paris"} and final.stop_reason == "tool_use"

    follow = ask + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": [{"type": "text", "text": "18 degrees and sunny"}]}]},
    ]
    r2 = c.messages.create(model=model, max_tokens=64, tools=[WEATHER], messages=follow)
    assert r2.stop_reason == "end_turn"
    assert r2.content[0].text == "18 degrees and sunny"


def test_max_tokens_zero_and_mid_conversation_system(upstream):
    c = client(upstream.url)
    warm = c.messages.create(model="echo", max_tokens=0, messages=[{"role": "user", "content": "fill the cache"}])
    assert warm.content == [] and warm.stop_reason == "max_tokens" and warm.usage.output_tokens == 0
    r = c.messages.create(model="echo", max_tokens=16, messages=[
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "system", "content": "From now on be formal."},
        {"role": "user", "content": "second"},
    ])
    assert r.content[0].text == "second"
    sent = upstream.last_upstream_request("mock")["prompt"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "system", "user"]


def test_tool_choice_none_offers_no_tools(upstream):
    r = client(upstream.url).messages.create(
        model="echo", max_tokens=64, tools=[WEATHER], tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "What is the weather in Paris"}],
    )
    assert r.stop_reason == "end_turn" and r.content[0].text == "What is the weather in Paris"
    assert upstream.last_upstream_request("mock")["prompt"]["tools"] == 0


def test_count_tokens(upstream):
    c = client(upstream.url)
    small = c.messages.count_tokens(model="echo", messages=[{"role": "user", "content": "hi"}])
    big = c.messages.count_tokens(
        model="echo", system="word " * 400, tools=[WEATHER],
        messages=[{"role": "user", "content": "hi"}],
    )
    assert 0 < small.input_tokens < big.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "hi"}])


def test_error_types_map_to_the_sdks_exceptions(upstream):
    c = client(upstream.url)
    hi = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.NotFoundError) as e:
        c.messages.create(model="gpt-nope", max_tokens=8, messages=hi)
    assert e.value.status_code == 404
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "not_found_error"
    assert "gpt-nope" in e.value.body["error"]["message"]

    bad_requests = [
        dict(messages=[{"role": "user", "content": [{"type": "text"}]}]),
        dict(messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
        dict(messages=[{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_unknown", "content": "x"}]}]),
        dict(messages=[{"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "f", "input": "not an object"}]}]),
        dict(messages=hi, extra_body={"max_tokens": 10**12}),
        dict(messages=hi, extra_body={"max_tokens": -1}),
        dict(messages=hi, extra_body={"frobnicate": True}),
        dict(messages=hi, extra_body={"temperature": 3}),
        dict(messages=[]),
        dict(messages=[{"role": "tool", "content": "x"}]),
        dict(messages=[{"role": "system", "content": [{"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]),
        dict(messages=[{"role": "user", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]}]),
    ]
    for kwargs in bad_requests:
        kwargs = dict(kwargs)
        extra = kwargs.pop("extra_body", None)
        with pytest.raises(anthropic.BadRequestError) as e:
            c.messages.create(model="echo", max_tokens=8, extra_body=extra, **kwargs)
        body = e.value.body
        assert e.value.status_code == 400, kwargs
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
        assert body["error"]["message"], body

    # A model that cannot take tools: 400 in Anthropic's shape, Ollama's words.
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="codestral-echo", max_tokens=8, messages=hi, tools=[WEATHER])
    assert "does not support tools" in e.value.body["error"]["message"]


def test_upstream_failures_are_5xx_api_errors(upstream):
    c = client(upstream.url)
    with pytest.raises(anthropic.InternalServerError) as e:
        c.messages.create(model="error", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["error"]["type"] == "api_error"


def test_models_in_anthropics_shape(claude):
    c = client(claude.url)
    page = c.models.list(limit=1000)
    ids = [m.id for m in page.data]
    assert "echo" in ids
    assert all(m.type == "model" and m.display_name and m.created_at for m in page.data)
    m = c.models.retrieve("claude-sonnet-4-5-20250929")
    assert m.id == "claude-sonnet-4-5-20250929" and m.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        c.models.retrieve("gpt-4o")
    # Without anthropic-version, OpenAI's shape as before.
    assert httpx.get(f"{claude.url}/v1/models").json()["object"] == "list"


def test_claude_names_map_through_aliases(claude):
    c = client(claude.url)
    for model in ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]:
        r = c.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": "mapped"}])
        assert r.model == model and r.content[0].text == "mapped"
    with pytest.raises(anthropic.NotFoundError):
        c.messages.create(model="claude-opus-4-1", max_tokens=16, messages=[{"role": "user", "content": "x"}])


def sse_events(response):
    """(event name, data) for each event of an SSE response, checking the framing."""
    out, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: "):])
            assert data["type"] == name, (name, data)
            out.append((name, data))
            name = None
        else:
            assert line == "", line
    return out


def field(data, path):
    for key in path.split("."):
        data = data[key]
    return data


def matches_sequence(events, sequence):
    """Events matched against the documented sequence: pings may appear anywhere, `*`
    repeats the previous entry."""
    events = [e for e in events if e[0] != "ping"]
    expected = [s for s in sequence if s == "*" or s["event"] != "ping"]
    i = 0
    for k, want in enumerate(expected):
        if want == "*":
            prev = expected[k - 1]
            while i < len(events) and events[i][0] == prev["event"]:
                check(events[i], prev)
                i += 1
            continue
        assert i < len(events), f"missing {want['event']}"
        check(events[i], want)
        i += 1
    assert i == len(events), f"unexpected events after the sequence: {events[i:]}"


def check(event, want):
    name, data = event
    assert name == want["event"], (name, want)
    for path, value in want["fields"].items():
        assert field(data, path) == value, (name, path, data)


def replay(gw, nonce):
    recorded = json.loads((FIXTURES / "claude-code-request.json").read_text())
    headers = recorded.pop("_headers")
    recorded.pop("_comment")
    body = json.loads(json.dumps(recorded).replace("{nonce}", nonce))
    # Claude Code posts to /v1/messages?beta=true.
    with httpx.stream("POST", f"{gw.url}/v1/messages?beta=true", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return sse_events(r)


def test_recorded_claude_code_request_streams_the_documented_sequence(claude):
    sequence = json.loads((FIXTURES / "claude-code-events.json").read_text())["sequence"]
    events = replay(claude, "a1b2c")
    assert [e[0] for e in events[:2]] == ["message_start", "ping"]
    matches_sequence(events, sequence)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# claudeMd\nUse 4 spaces.\n</system-reminder>\nsummarise the readme in one line"[: len(text)]
    assert text.startswith("<system-reminder>")
    usage = events[-2][1]["usage"]
    assert usage["output_tokens"] > 0 and usage["input_tokens"] > 0

    # The billing line never reaches the backend, and the next turn's system prompt is
    # the same as this one's although the nonce changed.
    first = claude.last_upstream_request("mock")["prompt"]["messages"]
    replay(claude, "zz999")
    second = claude.last_upstream_request("mock")["prompt"]["messages"]
    assert first[0]["role"] == "system"
    assert first[0]["content"].startswith("You are Claude Code, Anthropic's official CLI for Claude.")
    assert "x-anthropic-billing-header" not in json.dumps(first)
    assert first == second
    assert claude.last_upstream_request("mock")["prompt"]["tools"] == 3


def test_correlation_id_and_disconnect_cancel(claude):
    rid = f"anth-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{claude.url}/v1/messages", headers={"X-Request-ID": rid, "anthropic-version": "2023-06-01"},
                   json={"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["x-request-id"] == rid
    before = claude.backend_stats("drip")["cancelled"]
    body = {"model": "drip", "max_tokens": 200, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    with httpx.stream("POST", f"{claude.url}/v1/messages", json=body, timeout=30) as r:
        lines = r.iter_lines()
        while "content_block_delta" not in next(lines):
            pass
    stats = wait_for(lambda: (s := claude.backend_stats("drip"))["cancelled"] > before and s["in_flight"] == 0 and s)
    assert stats


def test_body_limit_and_malformed_json_in_anthropics_shape(upstream):
    r = httpx.post(f"{upstream.url}/v1/messages", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    huge = b'{"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "' + b"a" * (17 * 1024 * 1024) + b'"}]}'
    r = httpx.post(f"{upstream.url}/v1/messages", content=huge, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "request_too_large"
