"""The embedded engine behind the gateway, on the real default model (SmolLM2-135M): local
GGUF discovery, chat and completion through `devassist serve` with the official clients,
start on the first request, /api/ps while loaded, idle stop and re-wake, keep_alive 0."""

import json
import pathlib
import time

import httpx
import ollama
import openai
import pytest

from conftest import BIN, MODEL, MODEL_FILE, MODELS_DIR, Gateway, require_default_model

require_default_model()

CONFIG = """
[engine]
idle_timeout = "3s"
parallel = 2
ctx = 2048
threads = 2
"""


@pytest.fixture(scope="module")
def gw():
    g = Gateway(CONFIG, "engine", env={"DEVASSIST_MODELS": str(MODELS_DIR)})
    yield g
    g.stop()


def engine_state(gw):
    for b in gw.status()["backends"]:
        if b["name"] == f"engine:{MODEL}":
            return b
    raise KeyError("no engine backend in /status")


def test_local_model_is_listed_with_gguf_metadata(gw):
    tags = httpx.get(f"{gw.url}/api/tags").json()["models"]
    m = next(t for t in tags if t["name"] == MODEL)
    assert m["details"]["family"] == "llama"
    assert m["details"]["quantization_level"] == "Q4_1"
    assert m["details"]["parameter_size"].endswith("M")
    assert m["size"] > 50_000_000
    show = ollama.Client(host=gw.url).show(MODEL)
    assert "completion" in show.capabilities and "insert" not in show.capabilities
    assert show.modelinfo["general.architecture"] == "llama"


def test_first_request_wakes_the_engine_and_reports_load(gw):
    c = ollama.Client(host=gw.url)
    c.generate(model=MODEL, prompt="", keep_alive=0)  # make sure it is cold
    for _ in range(100):
        if engine_state(gw)["state"] == "cold":
            break
        time.sleep(0.1)
    r = c.chat(model=MODEL, messages=[{"role": "user", "content": "Say hello."}], options={"temperature": 0, "num_predict": 8})
    assert r.done and r.message.content.strip()
    assert r.load_duration > 0, "the wake should be reported as load_duration"
    assert r.eval_count > 0 and r.prompt_eval_count > 0
    assert MODEL in [m.model for m in c.ps().models]
    assert engine_state(gw)["state"] == "ready"


def test_greedy_is_deterministic_through_both_clients(gw):
    c = ollama.Client(host=gw.url)
    ask = dict(model=MODEL, prompt="def add(a, b):", raw=True, options={"temperature": 0, "num_predict": 16})
    first = c.generate(**ask).response
    second = c.generate(**ask).response
    assert first and first == second
    o = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    via_openai = o.completions.create(model=MODEL, prompt="def add(a, b):", temperature=0, max_tokens=16)
    assert via_openai.choices[0].text == first
    chunks = list(o.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Count to three."}],
                                            temperature=0, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text.strip() and chunks[-1].usage.completion_tokens > 0


def test_structured_output_through_both_clients(gw):
    """Ollama's `format` and OpenAI's `response_format` reach the engine as a grammar: the
    answer is JSON, and a schema's fields come with their types."""
    ask = "Describe a person as JSON with a name and an age."
    c = ollama.Client(host=gw.url)
    r = c.chat(model=MODEL, messages=[{"role": "user", "content": ask}], format="json",
               options={"temperature": 0, "num_predict": 120})
    assert isinstance(json.loads(r.message.content), dict), r.message.content
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    r = c.chat(model=MODEL, messages=[{"role": "user", "content": ask}], format=schema,
               options={"temperature": 0, "num_predict": 120})
    person = json.loads(r.message.content)
    assert set(person) == {"name", "age"} and isinstance(person["age"], int), person
    o = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    answer = o.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": ask}], temperature=0, max_tokens=120,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    assert json.loads(answer.choices[0].message.content) == person


def test_suffix_on_a_model_without_fim_tokens_is_ollamas_400(gw):
    with pytest.raises(ollama.ResponseError) as e:
        ollama.Client(host=gw.url).generate(model=MODEL, prompt="a", suffix="b")
    assert e.value.status_code == 400 and "does not support insert" in e.value.error


def test_idle_stop_then_rewake(gw):
    c = ollama.Client(host=gw.url)
    c.generate(model=MODEL, prompt="hi", options={"num_predict": 2})
    wakes = engine_state(gw)["wake"]["count"]
    deadline = time.time() + 20
    while time.time() < deadline and engine_state(gw)["state"] != "cold":
        time.sleep(0.2)
    assert engine_state(gw)["state"] == "cold", "idle_timeout = 3s should have stopped it"
    assert MODEL not in [m.model for m in c.ps().models]
    r = c.generate(model=MODEL, prompt="hi", options={"num_predict": 2})
    assert r.done
    assert engine_state(gw)["wake"]["count"] == wakes + 1


def engine_backend_config(model_block: str, *engine_args: str) -> str:
    """Local discovery off, one `process` backend running `devassist engine` on the default
    model (extra engine flags appended), and `model_block` (the `[[models]]` entries)."""
    command = [BIN, "engine", "--model", str(MODEL_FILE), "--listen", "127.0.0.1:{port}",
               "--parallel", "1", "--ctx", "1024", "--threads", "2", *engine_args]
    return f"""
[engine]
enabled = false

[[backends]]
name = "smol-engine"
kind = "openai"
[backends.lifecycle]
provider = "process"
command = {json.dumps(command)}
ready_url = "http://127.0.0.1:{{port}}/health"
{model_block}"""


def test_config_can_allow_prefix_only_completion_for_a_model_without_fim_tokens():
    """SmolLM2 has no FIM tokens: a configured model may still take `suffix` by declaring the
    `insert` capability and a prefix-only `fim_template`; the engine then gets the prefix as
    a plain completion prompt (here run as an explicit `process` backend)."""
    config = engine_backend_config("""
[[models]]
name = "smol-fim"
backend = "smol-engine"
capabilities = ["completion", "insert"]
[models.prompt]
fim_template = "{prefix}"
""")
    gw = Gateway(config, "prefix-only")
    try:
        c = ollama.Client(host=gw.url)
        r = c.generate(model="smol-fim", prompt="def add(a, b):", suffix="\n\nprint(add(1, 2))\n",
                       options={"temperature": 0, "num_predict": 12})
        assert r.response.strip(), r
        solo = c.generate(model="smol-fim", prompt="def add(a, b):", raw=True,
                          options={"temperature": 0, "num_predict": 12})
        # The suffix never reached the model: the same greedy answer as the bare prefix,
        # up to the FIM post-processing (trailing whitespace).
        assert solo.response.startswith(r.response.rstrip()), (r.response, solo.response)
    finally:
        gw.stop()


def test_tool_calls_from_the_engine_reach_both_clients():
    """A template that takes tools (`--chat-template-file`, Hermes syntax) and a conversation
    whose earlier turns show the model how to call: the default model's greedy answer is a
    call, which the ollama and openai clients receive as structured tool calls, streamed
    or not."""
    template = pathlib.Path(__file__).parent.parent / "fixtures/engine/hermes-tools.jinja"
    config = engine_backend_config("""
[[models]]
name = "smol-tools"
backend = "smol-engine"
capabilities = ["completion", "tools"]
""", "--chat-template-file", str(template))
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = []
    for i, city in enumerate(["Paris", "Rome", "Madrid"]):
        messages.append({"role": "user", "content": f"What is the weather in {city}?"})
        messages.append({"role": "assistant", "content": "", "tool_calls": [{
            "id": f"call_{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]})
    messages.append({"role": "user", "content": "What is the weather in Berlin?"})
    gw = Gateway(config, "engine-tools")
    try:
        o = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
        answer = o.chat.completions.create(model="smol-tools", messages=messages, tools=tools,
                                           temperature=0, max_tokens=60)
        choice = answer.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Berlin"}
        chunks = list(o.chat.completions.create(model="smol-tools", messages=messages, tools=tools,
                                                temperature=0, max_tokens=60, stream=True))
        streamed = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
        assert streamed and streamed[0].function.name == "get_weather"
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

        # Ollama's history carries arguments as objects.
        ollama_messages = [
            {**m, "tool_calls": [{"function": {"name": tc["function"]["name"],
                                               "arguments": json.loads(tc["function"]["arguments"])}}
                                 for tc in m["tool_calls"]]} if "tool_calls" in m else m
            for m in messages
        ]
        c = ollama.Client(host=gw.url)
        r = c.chat(model="smol-tools", messages=ollama_messages, tools=tools,
                   options={"temperature": 0, "num_predict": 60})
        assert r.message.tool_calls, r
        assert r.message.tool_calls[0].function.name == "get_weather"
        assert dict(r.message.tool_calls[0].function.arguments) == {"city": "Berlin"}
    finally:
        gw.stop()


def test_responses_api_on_the_default_model(gw):
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    ask = dict(model=MODEL, instructions="Answer in one short sentence.", input="Say hello.", max_output_tokens=8, temperature=0)
    r = c.responses.create(**ask)
    assert r.status in ("completed", "incomplete") and r.output_text.strip()
    assert r.usage.input_tokens > 0 and 0 < r.usage.output_tokens <= 8
    events = list(c.responses.create(**ask, stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert types[-1] == f"response.{r.status}"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == events[-1].response.output_text == r.output_text, "greedy answers agree"


def test_responses_tools_on_the_default_model(gw):
    """With the generic tool format (a model whose template takes no tools) the answer is a
    well-formed call or text; without it, the model's own capability check answers."""
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    tools = [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch."},
        {"type": "web_search"},
    ]
    ask = dict(model=MODEL, input="What is the weather in Paris?", tools=tools, temperature=0, max_output_tokens=48)
    if "tools" not in ollama.Client(host=gw.url).show(MODEL).capabilities:
        with pytest.raises(openai.BadRequestError) as e:
            c.responses.create(**ask)
        assert e.value.body["message"] == f'"{MODEL}" does not support tools'
        return
    r = c.responses.create(**ask)
    for item in r.output:
        assert item.type in ("message", "function_call", "custom_tool_call"), item
        if item.type == "function_call":
            assert item.name == "get_weather" and isinstance(json.loads(item.arguments), dict)
        if item.type == "custom_tool_call":
            assert item.name == "apply_patch" and isinstance(item.input, str)
