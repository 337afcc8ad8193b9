"""The official `openai` Python client against devassist's `/v1` surface, directly on the
mock backend and through devassist's `openai` and `ollama` backends."""

import base64
import struct

import openai
import pytest


def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_models_list_and_retrieve(upstream):
    c = client(upstream.url)
    ids = [m.id for m in c.models.list()]
    assert "echo" in ids
    m = c.models.retrieve("echo")
    assert m.id == "echo" and m.object == "model"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nope")


def test_chat_non_streaming(model_and_url):
    model, url = model_and_url
    r = client(url).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "ping the gateway"}], temperature=0
    )
    assert r.object == "chat.completion"
    assert r.choices[0].message.content == "ping the gateway"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 3
    assert r.usage.total_tokens == r.usage.prompt_tokens + 3


def test_chat_streaming_with_usage(model_and_url):
    model, url = model_and_url
    chunks = list(
        client(url).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "stream these words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "stream these words"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1


def test_chat_max_tokens_gives_length(model_and_url):
    model, url = model_and_url
    r = client(url).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a b c d e"}], max_tokens=2
    )
    assert r.choices[0].message.content == "a b"
    assert r.choices[0].finish_reason == "length"


def test_chat_tools(model_and_url):
    model, url = model_and_url
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    msgs = [{"role": "user", "content": "weather in Paris"}]
    r = client(url).chat.completions.create(model=model, messages=msgs, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Paris"}'
    follow = client(url).chat.completions.create(
        model=model,
        messages=msgs
        + [
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "rain"},
        ],
        tools=tools,
    )
    assert follow.choices[0].message.content is not None
    streamed = list(client(url).chat.completions.create(model=model, messages=msgs, tools=tools, stream=True))
    deltas = [tc for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in streamed if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_legacy_completion_with_suffix(model_and_url):
    model, url = model_and_url
    c = client(url)
    # The echoed FIM prompt starts with a stop word, so the answer is empty; the exact
    # upstream prompt is checked in test_fim.py.
    r = c.completions.create(model=model, prompt="def fib(n):", suffix="\n", max_tokens=16)
    assert r.object == "text_completion" and r.choices[0].finish_reason == "stop"
    plain = c.completions.create(model=model, prompt="x = 1 + 2")
    assert plain.choices[0].text == "x = 1 + 2"
    chunks = list(c.completions.create(model=model, prompt="x = 1", suffix="\n", stream=True))
    # Tabby stops at the first non-null finish_reason: it must precede [DONE].
    assert any(ch.choices and ch.choices[0].finish_reason == "stop" for ch in chunks)


def test_embeddings_float_and_base64(model_and_url):
    model, url = model_and_url
    c = client(url)
    r = c.embeddings.create(model=model, input=["one", "two"], encoding_format="float")
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 8
    raw = c.with_raw_response.embeddings.create(model=model, input="one", encoding_format="base64")
    b64 = raw.http_response.json()["data"][0]["embedding"]
    floats = struct.unpack("<8f", base64.b64decode(b64))
    assert floats == pytest.approx(r.data[0].embedding, rel=1e-6)


def test_errors_in_openai_shape(upstream):
    c = client(upstream.url)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["message"] == "model 'ghost' not found"
    assert e.value.body["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="echo", messages=[])
    assert "too short" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="echo", input="x", encoding_format="hex")
    assert "encoding_format" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], temperature=7)


def test_upstream_error_before_first_byte_is_502(front):
    c = client(front.url)
    with pytest.raises(openai.InternalServerError) as e:
        c.chat.completions.create(model="error-openai", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502


def test_upstream_hang_is_504(front):
    c = client(front.url)
    with pytest.raises(openai.APIStatusError) as e:
        c.chat.completions.create(model="hang-openai", messages=[{"role": "user", "content": "x"}], stream=True)
    assert e.value.status_code == 504


def test_broken_upstream_stream_ends_with_error_event(front):
    c = client(front.url)
    got = []
    with pytest.raises(openai.APIError) as e:
        for chunk in c.chat.completions.create(
            model="broken-openai", messages=[{"role": "user", "content": "a b c d e f g"}], stream=True
        ):
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got).startswith("a b c")
    assert e.value.message
