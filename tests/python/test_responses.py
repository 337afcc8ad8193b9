"""`POST /v1/responses` (OpenAI's Responses API, what Codex CLI and Copilot CLI speak): the
official `openai` client's `responses.create`, streaming and not, with function and custom
tools, on the mock directly and through devassist's `openai` and `ollama` backends; a Codex
request replayed with its events checked one by one; bad input answered with 4xx."""

import copy
import json
import pathlib
import time

import httpx
import openai
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CODEX = json.loads((ROOT / "tests/fixtures/codex/turn_after_shell.json").read_text())

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
APPLY_PATCH = next(t for t in CODEX["body"]["tools"] if t["type"] == "custom")
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"

# The documented event sequence around one output item (docs/responses.md).
HEAD = ["response.created", "response.in_progress"]
MESSAGE_OPEN = ["response.output_item.added", "response.content_part.added"]
MESSAGE_CLOSE = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
FUNCTION_CALL = [
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
]
CUSTOM_CALL = [
    "response.output_item.added",
    "response.custom_tool_call_input.delta",
    "response.custom_tool_call_input.done",
    "response.output_item.done",
]


def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def text_events(n):
    """The sequence for a one-message answer streamed in `n` deltas."""
    return HEAD + MESSAGE_OPEN + ["response.output_text.delta"] * n + MESSAGE_CLOSE + ["response.completed"]


def check_sequence(events):
    """Sequence numbers count up from 0 by one; every item event names its item."""
    assert [e.sequence_number for e in events] == list(range(len(events)))
    items = {}
    for e in events:
        if e.type == "response.output_item.added":
            items[e.output_index] = e.item.id
        elif hasattr(e, "item_id"):
            assert items[e.output_index] == e.item_id, e


def test_non_streaming_text(model_and_url):
    model, url = model_and_url
    r = client(url).responses.create(model=model, instructions="Be brief.", input="ping the gateway")
    assert r.object == "response" and r.id.startswith("resp_")
    assert r.status == "completed" and r.error is None and r.incomplete_details is None
    assert r.model == model and r.created_at > 0
    assert r.output_text == "ping the gateway"
    assert [o.type for o in r.output] == ["message"]
    assert r.output[0].role == "assistant" and r.output[0].content[0].type == "output_text"
    assert r.usage.output_tokens == 3
    assert r.usage.total_tokens == r.usage.input_tokens + 3
    assert r.usage.input_tokens_details.cached_tokens == 0
    assert r.usage.output_tokens_details.reasoning_tokens == 0
    assert r.instructions == "Be brief." and r.store is False


def test_streaming_text_is_the_documented_sequence(model_and_url):
    model, url = model_and_url
    events = list(client(url).responses.create(model=model, input="stream these words", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert [e.type for e in events] == text_events(len(deltas))
    check_sequence(events)
    assert "".join(deltas) == "stream these words"
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    done = events[-1].response
    assert done.status == "completed" and done.output_text == "stream these words"
    assert done.usage.output_tokens == 3
    assert len({events[0].response.id, done.id}) == 1


def test_max_output_tokens_gives_incomplete(model_and_url):
    model, url = model_and_url
    c = client(url)
    r = c.responses.create(model=model, input="a b c d e", max_output_tokens=2)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output_text == "a b"
    events = list(c.responses.create(model=model, input="a b c d e", max_output_tokens=2, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_function_tool_call_and_its_output(model_and_url):
    model, url = model_and_url
    c = client(url)
    ask = [{"role": "user", "content": "weather in Paris"}]
    r = c.responses.create(model=model, input=ask, tools=[WEATHER])
    assert [o.type for o in r.output] == ["function_call"]
    call = r.output[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id and call.id.startswith("fc_") and call.status == "completed"
    follow = c.responses.create(
        model=model,
        input=ask
        + [
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
        tools=[WEATHER],
    )
    assert follow.output_text == "rain"
    events = list(c.responses.create(model=model, input=ask, tools=[WEATHER], stream=True))
    assert [e.type for e in events] == HEAD + FUNCTION_CALL + ["response.completed"]
    check_sequence(events)
    assert events[2].item.type == "function_call" and events[2].item.arguments == ""
    assert json.loads(events[3].delta) == {"city": "Paris"}
    assert events[4].arguments == events[3].delta and events[4].name == "get_weather"


def test_custom_tool_call_comes_back_as_custom_tool_call(model_and_url):
    model, url = model_and_url
    c = client(url)
    ask = [{"role": "user", "content": f"call apply_patch {PATCH}"}]
    r = c.responses.create(model=model, input=ask, tools=[APPLY_PATCH, WEATHER])
    assert [o.type for o in r.output] == ["custom_tool_call"], r.output
    call = r.output[0]
    assert call.name == "apply_patch" and call.input == PATCH and call.call_id
    events = list(c.responses.create(model=model, input=ask, tools=[APPLY_PATCH, WEATHER], stream=True))
    assert [e.type for e in events] == HEAD + CUSTOM_CALL + ["response.completed"]
    check_sequence(events)
    assert events[3].delta == PATCH and events[4].input == PATCH
    assert events[5].item.type == "custom_tool_call" and events[5].item.input == PATCH
    follow = c.responses.create(
        model=model,
        input=ask
        + [
            {"type": "custom_tool_call", "call_id": call.call_id, "name": "apply_patch", "input": PATCH},
            {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done!"},
        ],
        tools=[APPLY_PATCH],
    )
    assert follow.output_text == "Done!"


def sse_events(r):
    """(event name, data) pairs of a raw `text/event-stream` body."""
    out, name = [], None
    for line in r.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[len("data: ") :])))
            name = None
    return out


def replay(url, model, extra_input=()):
    body = copy.deepcopy(CODEX["body"])
    body["model"] = model
    body["input"] += list(extra_input)
    with httpx.stream("POST", f"{url}/v1/responses", json=body, headers=CODEX["headers"], timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["x-devassist-warning"] == "ignored tools the gateway cannot run: web_search"
        events = sse_events(r)
    for name, data in events:
        assert name == data["type"], (name, data)
    seqs = [data["sequence_number"] for _, data in events]
    assert all(b > a for a, b in zip(seqs, seqs[1:])), seqs
    return [data for _, data in events]


def test_codex_turn_replayed(model_and_url, upstream):
    model, url = model_and_url
    events = replay(url, model)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert [e["type"] for e in events] == text_events(len(deltas))
    shell_output = CODEX["body"]["input"][-1]["output"]
    # The mock repeats the last tool result: the shell output reached the model.
    assert "".join(deltas) == shell_output
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["text"] == shell_output
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    assert done["store"] is False and done["tools"] == CODEX["body"]["tools"]
    if model == "echo":
        sent = upstream.last_upstream_request("mock")["prompt"]
        roles = [m["role"] for m in sent["messages"]]
        # instructions, developer, AGENTS.md, environment, question; reasoning dropped;
        # the shell call on an assistant turn; its result.
        assert roles == ["system", "system", "user", "user", "user", "assistant", "tool"]
        assert sent["messages"][0]["content"] == CODEX["body"]["instructions"]
        assert sent["messages"][5]["tool_calls"][0]["name"] == "shell"
        assert sent["messages"][6]["tool_call_id"] == "call_Xy12AbCd"
        assert sent["tools"] == 4, "web_search is left out, the other four are offered"


def test_codex_apply_patch_turn_replayed(model_and_url):
    model, url = model_and_url
    ask = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"call apply_patch {PATCH}"}]}
    events = replay(url, model, [ask])
    assert [e["type"] for e in events] == HEAD + CUSTOM_CALL + ["response.completed"]
    item = events[-1]["response"]["output"][0]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch" and item["input"] == PATCH
    assert not any(e.get("item", {}).get("type") == "function_call" for e in events)


def test_stateless_requests(upstream):
    c = client(upstream.url)
    assert c.responses.create(model="echo", input="x", store=True).output_text == "x"
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="echo", input="again", previous_response_id="resp_123")
    assert e.value.body["param"] == "previous_response_id"
    assert "does not store responses" in e.value.body["message"]
    assert "whole conversation in `input`" in e.value.body["message"]
    assert e.value.body["type"] == "invalid_request_error"


BAD = [
    ({"input": [{"type": "message", "role": "user"}]}, "input[0]"),
    ({"input": [{"type": "message", "role": "user", "content": [{"type": "input_txt", "text": "x"}]}]}, "input[0].content[0]"),
    ({"input": [{"type": "wat"}]}, "input[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": "x"}, {"type": "function_call_output", "call_id": "ghost", "output": "x"}]}, "input[1].call_id"),
    ({"input": 7}, "input"),
    ({"input": "x", "temperature": "hot"}, "temperature"),
    ({"input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": 10**12}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": 10**40}, "max_output_tokens"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0]"),
    ({"input": "x", "tools": [{"type": "custom", "name": "p", "format": {"type": "grammar", "syntax": "peg", "definition": ""}}]}, "tools[0]"),
    ({"input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
    ({"input": "x", "stream_options": {"include_usage": True}}, "stream_options.include_usage"),
    ({"input": "x", "reasoning": {"effort": "galaxy-brain"}}, "reasoning.effort"),
    ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("body,param", BAD, ids=[p for _, p in BAD])
def test_bad_input_is_a_400_in_openai_shape(upstream, body, param, stream):
    r = httpx.post(f"{upstream.url}/v1/responses", json={"model": "echo", "stream": stream, **body})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    assert err["message"]


def test_broken_json_and_unknown_model(upstream):
    r = httpx.post(f"{upstream.url}/v1/responses", content=b'{"model": "echo", "input": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError) as e:
        client(upstream.url).responses.create(model="ghost", input="x")
    assert e.value.body["message"] == "model 'ghost' not found"


def test_upstream_error_before_first_byte_is_502(front):
    with pytest.raises(openai.InternalServerError) as e:
        client(front.url).responses.create(model="error-openai", input="x")
    assert e.value.status_code == 502 and e.value.body["type"] == "api_error"


def test_broken_upstream_stream_ends_with_response_failed(front):
    events = list(client(front.url).responses.create(model="broken-openai", input="a b c d e f g", stream=True))
    check_sequence(events)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed" and events[-1].response.error.message
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith("a b c")


def test_request_id_is_returned_and_forwarded(front, upstream):
    rid = "responses-correlation-77"
    r = httpx.post(f"{front.url}/v1/responses", json={"model": "via-openai", "input": "hello"}, headers={"X-Request-ID": rid})
    assert r.status_code == 200 and r.headers["x-request-id"] == rid
    assert r.json()["output"][0]["content"][0]["text"] == "hello"
    assert rid in upstream.logs(), "the correlation id was not forwarded upstream"


def test_client_disconnect_cancels_upstream(upstream):
    before = upstream.backend_stats("drip")["cancelled"]
    body = {"model": "drip", "input": "go", "stream": True}
    with httpx.stream("POST", f"{upstream.url}/v1/responses", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["type"] == "response.output_text.delta":
                break
    deadline = time.time() + 5
    while time.time() < deadline:
        stats = upstream.backend_stats("drip")
        if stats["cancelled"] > before and stats["in_flight"] == 0:
            return
        time.sleep(0.05)
    pytest.fail(f"the backend never saw the cancellation: {upstream.backend_stats('drip')}")
