"""Tool calls on the default model (SmolLM2-135M, whose chat template takes no tools) through
`devassist serve`: the engine's generic tool-call format gives the official clients structured
calls whose arguments validate against the tool's JSON schema, text when no call is wanted,
and the request shapes of Continue's CLI (Ollama and OpenAI providers, tools, system prompt,
streaming) answer 200 instead of `does not support tools`."""

import json

import httpx
import jsonschema
import ollama
import openai
import pytest

from conftest import MODEL, MODELS_DIR, Gateway, require_default_model

require_default_model()

CONFIG = """
[engine]
idle_timeout = "60s"
parallel = 2
ctx = 4096
threads = 2
"""

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city", "parameters": WEATHER_SCHEMA}}
QUESTION = "What is the weather in Paris right now, in celsius?"

# What Continue's CLI offers an agent model (names and schemas as its built-in tools have them).
CONTINUE_TOOLS = [
    {"type": "function", "function": {"name": "Read", "description": "Read the contents of a file in the project",
     "parameters": {"type": "object", "required": ["filepath"],
                    "properties": {"filepath": {"type": "string", "description": "The path of the file to read"}}}}},
    {"type": "function", "function": {"name": "List", "description": "List the files in a directory",
     "parameters": {"type": "object", "required": ["dirpath"],
                    "properties": {"dirpath": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "Search", "description": "Search the code base with a regular expression",
     "parameters": {"type": "object", "required": ["pattern"],
                    "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "Bash", "description": "Run a terminal command and return its output",
     "parameters": {"type": "object", "required": ["command"],
                    "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "Edit", "description": "Replace text in a file",
     "parameters": {"type": "object", "required": ["file_path", "old_string", "new_string"],
                    "properties": {"file_path": {"type": "string"}, "old_string": {"type": "string"},
                                   "new_string": {"type": "string"}, "replace_all": {"type": "boolean"}}}}},
]
CONTINUE_SYSTEM = (
    "You are an agent in the Continue CLI. Given the user's prompt, you should use the tools "
    "available to you to answer the user's question.\n\nAlways follow these guidelines:\n"
    "- Be concise and direct.\n- Read files before editing them.\n- Prefer small, focused edits.\n"
    "<context name=\"directoryStructure\">src/\n  main.py\n  util.py\nREADME.md\n</context>\n"
    "<context name=\"gitStatus\">On branch main, nothing to commit</context>"
)
CONTINUE_USER = "What does src/main.py do?"


@pytest.fixture(scope="module")
def gw():
    g = Gateway(CONFIG, "engine-tools", env={"DEVASSIST_MODELS": str(MODELS_DIR)})
    yield g
    g.stop()


def test_show_reports_tools_for_the_default_model(gw):
    show = ollama.Client(host=gw.url).show(MODEL)
    assert "tools" in show.capabilities, show.capabilities
    tags = httpx.get(f"{gw.url}/api/tags").json()["models"]
    assert "tools" in next(t for t in tags if t["name"] == MODEL)["capabilities"]


def test_a_question_that_needs_the_tool_gets_a_valid_call_through_openai(gw):
    o = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    answer = o.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER],
                                       temperature=0, max_tokens=80)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)

    chunks = list(o.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER],
                                            temperature=0, max_tokens=80, stream=True))
    streamed = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert streamed and streamed[0].function.name == "get_weather"
    assert json.loads(streamed[0].function.arguments) == json.loads(call.function.arguments)
    assert [ch for ch in chunks if ch.choices][-1].choices[0].finish_reason == "tool_calls"


def test_a_question_that_needs_the_tool_gets_a_valid_call_through_ollama(gw):
    c = ollama.Client(host=gw.url)
    r = c.chat(model=MODEL, messages=[{"role": "user", "content": QUESTION}], tools=[WEATHER],
               options={"temperature": 0, "num_predict": 80})
    assert r.message.tool_calls, r
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(dict(call.function.arguments), WEATHER_SCHEMA)
    streamed = [p.message.tool_calls for p in c.chat(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], tools=[WEATHER],
        options={"temperature": 0, "num_predict": 80}, stream=True) if p.message.tool_calls]
    assert streamed and streamed[0][0].function.name == "get_weather"


def test_tool_choice_none_and_no_need_give_text(gw):
    o = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    answer = o.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}],
                                       tools=[WEATHER], tool_choice="none", temperature=0, max_tokens=40)
    assert not answer.choices[0].message.tool_calls, answer
    assert answer.choices[0].message.content.strip()
    assert answer.choices[0].finish_reason != "tool_calls"

    greeting = [{"role": "user", "content": "Hi! Tell me a joke."}]
    answer = o.chat.completions.create(model=MODEL, messages=greeting, tools=[WEATHER],
                                       temperature=0, max_tokens=40)
    assert not answer.choices[0].message.tool_calls, answer
    assert answer.choices[0].message.content.strip()
    r = ollama.Client(host=gw.url).chat(model=MODEL, messages=greeting, tools=[WEATHER],
                                        options={"temperature": 0, "num_predict": 40})
    assert not r.message.tool_calls and r.message.content.strip(), r


def test_continue_cli_on_the_ollama_provider(gw):
    """Continue's Ollama provider: `/api/show` first, then `/api/chat` with its system prompt,
    the tools, `options` and `keep_alive`, streamed as NDJSON (no `stream` field)."""
    show = httpx.post(f"{gw.url}/api/show", json={"name": MODEL})
    assert show.status_code == 200 and "tools" in show.json()["capabilities"]
    body = {
        "model": MODEL,
        "messages": [{"role": "system", "content": CONTINUE_SYSTEM}, {"role": "user", "content": CONTINUE_USER}],
        "options": {"num_ctx": 4096, "num_predict": 120, "temperature": 0},
        "keep_alive": 1800,
        "tools": CONTINUE_TOOLS,
    }
    with httpx.stream("POST", f"{gw.url}/api/chat", json=body, timeout=300) as r:
        assert r.status_code == 200, r.read()
        lines = [json.loads(line) for line in r.iter_lines() if line.strip()]
    assert not any("error" in line for line in lines), lines
    assert lines[-1]["done"] is True
    content = "".join(line["message"].get("content", "") for line in lines)
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    assert content.strip() or calls, lines
    names = {t["function"]["name"] for t in CONTINUE_TOOLS}
    for call in calls:
        assert call["function"]["name"] in names
        assert isinstance(call["function"]["arguments"], dict)


def test_continue_cli_on_the_openai_provider(gw):
    """Continue's OpenAI provider: the openai npm SDK's streamed chat with
    `stream_options.include_usage`, the system prompt and the tools."""
    body = {
        "model": MODEL,
        "messages": [{"role": "system", "content": CONTINUE_SYSTEM}, {"role": "user", "content": CONTINUE_USER}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 120,
        "temperature": 0,
        "tools": CONTINUE_TOOLS,
    }
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=300,
                      headers={"authorization": "Bearer x"}) as r:
        assert r.status_code == 200, r.read()
        data = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert not any("error" in ch for ch in chunks), chunks
    deltas = [ch["choices"][0]["delta"] for ch in chunks if ch["choices"]]
    content = "".join(d.get("content") or "" for d in deltas)
    calls = [c for d in deltas for c in d.get("tool_calls") or []]
    assert content.strip() or calls, chunks
    for call in calls:
        json.loads(call["function"]["arguments"])
    assert chunks[-1]["usage"]["completion_tokens"] > 0
