"""The `anthropic` SDK through devassist to the embedded engine on the real default model
(SmolLM2-135M), with Claude Code's model names mapped by `[aliases]`: a message and the same
answer streamed. What the billing-line removal buys on the engine is measured by
`make bench-prompt-cache` (docs/benchmarks.md), not timed here."""


import anthropic
import pytest

from conftest import MODELS_DIR, Gateway, require_default_model

require_default_model()

CONFIG = """
[engine]
parallel = 2
ctx = 2048
threads = 2

[aliases]
"claude-*" = "smollm2:135m"
"""


@pytest.fixture(scope="module")
def gw():
    g = Gateway(CONFIG, "anthropic-engine", env={"DEVASSIST_MODELS": str(MODELS_DIR)})
    yield g
    g.stop()


def test_message_and_stream_on_the_default_model(gw):
    c = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0)
    ask = dict(model="claude-haiku-4-5-20251001", max_tokens=12, extra_body={"temperature": 0},
               messages=[{"role": "user", "content": "Say hello."}])
    r = c.messages.create(**ask)
    assert r.content and r.content[0].type == "text" and r.content[0].text.strip()
    assert r.stop_reason in ("end_turn", "max_tokens")
    assert 0 < r.usage.output_tokens <= 12 and r.usage.input_tokens > 0
    with c.messages.stream(**ask) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == r.content[0].text, "greedy: the stream says the same"
    assert final.stop_reason == r.stop_reason


WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}


def test_tool_choice_any_makes_the_default_model_call_a_tool(gw):
    """Claude Code always sends tools: on the engine's generic tool format, `any` (and a named
    `tool`) force a call whose input fits the schema, as a `tool_use` block, even for a
    message that does not need the tool."""
    c = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0)
    for choice in ({"type": "any"}, {"type": "tool", "name": "get_weather"}):
        r = c.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, extra_body={"temperature": 0},
            tools=[WEATHER], tool_choice=choice,
            messages=[{"role": "user", "content": "Hi! Tell me a joke."}],
        )
        assert r.stop_reason == "tool_use", (choice, r)
        uses = [b for b in r.content if b.type == "tool_use"]
        assert len(uses) == 1 and uses[0].name == "get_weather", r.content
        assert isinstance(uses[0].input.get("city"), str) and uses[0].input["city"], uses[0].input
        assert set(uses[0].input) <= {"city", "unit"}
