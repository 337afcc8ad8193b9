"""The official `ollama` Python client against devassist, directly on the mock backend and
through devassist's `openai` and `ollama` backends (a second devassist as upstream)."""

import ollama
import pytest


def client(url):
    return ollama.Client(host=url)


def test_list_show_and_ps(upstream):
    c = client(upstream.url)
    names = [m.model for m in c.list().models]
    assert "echo" in names and "drip" in names
    shown = c.show("echo")
    assert ".Suffix" in shown.template  # Continue's switch for server-side FIM
    assert "insert" in shown.capabilities
    assert shown.modelinfo["general.architecture"]
    arch = shown.modelinfo["general.architecture"]
    assert shown.modelinfo[f"{arch}.context_length"] == 4096
    assert "num_ctx" in shown.parameters
    c.generate(model="echo", prompt="warm up")
    assert "echo" in [m.model for m in c.ps().models]


def test_show_unknown_model_is_ollamas_404(upstream):
    with pytest.raises(ollama.ResponseError) as e:
        client(upstream.url).show("nope:1b")
    assert e.value.status_code == 404
    assert e.value.error == "model 'nope:1b' not found"


def test_generate_non_streaming(model_and_url):
    model, url = model_and_url
    r = client(url).generate(model=model, prompt="the quick brown fox", options={"temperature": 0})
    assert r.done and r.done_reason == "stop"
    assert r.response == "the quick brown fox"
    assert r.eval_count == 4
    assert r.prompt_eval_count >= 1
    assert r.total_duration > 0


def test_generate_streaming_final_chunk(model_and_url):
    model, url = model_and_url
    parts = list(client(url).generate(model=model, prompt="alpha beta gamma", stream=True))
    assert "".join(p.response for p in parts) == "alpha beta gamma"
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    last = parts[-1]
    assert last.response == ""
    assert last.done_reason == "stop"
    assert last.eval_count == 3 and last.total_duration > 0


def test_generate_num_predict_gives_length(model_and_url):
    model, url = model_and_url
    r = client(url).generate(model=model, prompt="a b c d e f", options={"num_predict": 2})
    assert r.response == "a b"
    assert r.done_reason == "length"


def test_fim_suffix(model_and_url):
    model, url = model_and_url
    r = client(url).generate(model=model, prompt="def add(a, b):", suffix="\n")
    assert r.done and r.done_reason == "stop"


def test_chat_streaming_and_not(model_and_url):
    model, url = model_and_url
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello gateway"},
    ]
    r = client(url).chat(model=model, messages=messages)
    assert r.message.role == "assistant"
    assert r.message.content == "hello gateway"
    assert r.done_reason == "stop"
    parts = list(client(url).chat(model=model, messages=messages, stream=True))
    assert "".join(p.message.content for p in parts) == "hello gateway"
    assert parts[-1].done and parts[-1].eval_count == 2


def test_chat_tool_call(model_and_url):
    model, url = model_and_url
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages = [{"role": "user", "content": "what is the weather in Tokyo"}]
    r = client(url).chat(model=model, messages=messages, tools=tools)
    assert r.message.tool_calls, r
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Tokyo"}
    # The tool result goes back as a follow-up turn.
    messages += [r.message, {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]
    follow = client(url).chat(model=model, messages=messages, tools=tools)
    assert follow.done
    streamed = list(client(url).chat(model=model, messages=messages[:1], tools=tools, stream=True))
    calls = [c for p in streamed for c in (p.message.tool_calls or [])]
    assert calls and calls[0].function.arguments == {"city": "Tokyo"}


def test_embed_and_legacy_embeddings(model_and_url):
    model, url = model_and_url
    c = client(url)
    r = c.embed(model=model, input=["first text", "second text"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 8
    assert r.embeddings[0] != r.embeddings[1]
    again = c.embed(model=model, input="first text")
    assert again.embeddings[0] == r.embeddings[0]
    legacy = c.embeddings(model=model, prompt="first text")
    assert legacy.embedding == pytest.approx(r.embeddings[0], rel=1e-6)


def test_load_and_unload_with_empty_prompt(upstream):
    c = client(upstream.url)
    loaded = c.generate(model="echo", prompt="")
    assert loaded.done and loaded.done_reason == "load"
    unloaded = c.generate(model="echo", prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    chat = c.chat(model="echo", messages=[])
    assert chat.done_reason == "load"


def test_options_type_error_is_ollamas_400(upstream):
    with pytest.raises(ollama.ResponseError) as e:
        client(upstream.url).generate(model="echo", prompt="x", options={"temperature": "warm"})
    assert e.value.status_code == 400
    assert e.value.error == 'option "temperature" must be of type float32'


def test_unknown_model_generate_and_chat(front):
    c = client(front.url)
    for call in (
        lambda: c.generate(model="ghost", prompt="x"),
        lambda: c.chat(model="ghost", messages=[{"role": "user", "content": "x"}]),
    ):
        with pytest.raises(ollama.ResponseError) as e:
            call()
        assert e.value.status_code == 404 and e.value.error == "model 'ghost' not found"


def test_pull_on_config_managed_model_is_a_clear_error(upstream):
    with pytest.raises(ollama.ResponseError) as e:
        client(upstream.url).pull("echo")
    assert e.value.status_code == 400
    assert "managed by devassist's configuration" in e.value.error


def test_pull_passes_through_to_ollama_backends(front):
    # The upstream is another devassist, which refuses the pull: the refusal must come back
    # from the upstream, proving the request went through.
    with pytest.raises(ollama.ResponseError) as e:
        client(front.url).pull("via-ollama")
    assert "managed by devassist's configuration" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        client(front.url).pull("via-openai")
    assert "backend `vllm`" in e.value.error
