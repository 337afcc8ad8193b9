"""Docs search over HTTP and grounded chat, through the real binary with a real index built
by `devassist docs index`."""

import subprocess

import httpx
import pytest

from conftest import BIN, Gateway, UPSTREAM_CONFIG

PAGES = {
    "runners/register.md": "# Register a runner\n\nUse `gitlab-runner register` with the registration token from the project settings.\n\n## Tokens\n\nRunner authentication tokens start with glrt-.\n",
    "ci/caching.md": "# Caching in CI\n\nDefine `cache:paths` to keep dependencies between pipeline jobs. Cache keys select which cache is restored.\n",
    "api/issues.md": "# Issues API\n\nCreate an issue with POST /projects/:id/issues and a title.\n",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    src = root / "src"
    for path, text in PAGES.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text(text)
    out = root / "handbook.sqlite"
    subprocess.run(
        [BIN, "docs", "index", str(src), "--out", str(out), "--name", "handbook", "--base-url", "https://docs.example/"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def grounded(index):
    cfg = UPSTREAM_CONFIG + f'\n[docs]\nindexes = ["{index}"]\nchat_index = "handbook"\n'
    gw = Gateway(cfg, "docs")
    yield gw
    gw.stop()


def test_search_api_finds_the_page_with_marked_snippets(grounded):
    r = httpx.post(f"{grounded.url}/v1/search/docs", json={"query": "register a runner", "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index"] == "handbook"
    top = body["results"][0]
    assert top["path"].endswith("runners/register.md")
    assert top["url"].startswith("https://docs.example/")
    assert top["score"] >= 0 and "«" in top["snippet"]


def test_search_api_tolerates_typos(grounded):
    r = httpx.post(f"{grounded.url}/v1/search/docs", json={"query": "cachng dependncies"})
    assert r.json()["results"][0]["path"].endswith("ci/caching.md")


def test_gitlab_docs_search_shape(grounded):
    body = {"type": "search-docs", "metadata": {"source": "handbook", "version": "17.0"}, "payload": {"query": "create issue api", "page_size": 2}}
    r = httpx.post(f"{grounded.url}/v1/search/gitlab-docs", json=body)
    assert r.status_code == 200, r.text
    results = r.json()["response"]["results"]
    assert results and results[0]["metadata"]["filename"].endswith("api/issues.md")


def test_search_bad_input_is_clear(grounded):
    r = httpx.post(f"{grounded.url}/v1/search/docs", json={"query": ""})
    assert r.status_code == 400 and r.json()["error"]["message"]
    r = httpx.post(f"{grounded.url}/v1/search/docs", json={"query": "x", "index": "nope"})
    assert r.status_code == 404
    r = httpx.post(f"{grounded.url}/v1/search/docs", json={"query": "q" * 20000})
    assert r.status_code in (200, 400)


def test_chat_is_grounded_in_numbered_sources(grounded):
    body = {"model": "echo", "stream": False, "messages": [{"role": "user", "content": "how do I register a runner"}]}
    r = httpx.post(f"{grounded.url}/api/chat", json=body)
    assert r.status_code == 200, r.text
    sent = grounded.last_upstream_request("mock")["prompt"]["messages"]
    assert sent[0]["role"] == "system" and "[1]" in sent[0]["content"]
    assert "gitlab-runner register" in sent[0]["content"]
    answer = r.json()["message"]["content"]
    assert "Sources:" in answer and "https://docs.example/" in answer


def test_grounding_opt_out_and_streaming(grounded):
    body = {"model": "echo", "stream": False, "messages": [{"role": "user", "content": "how do I register a runner"}]}
    r = httpx.post(f"{grounded.url}/api/chat", json=body, headers={"X-Devassist-Grounding": "off"})
    sent = grounded.last_upstream_request("mock")["prompt"]["messages"]
    assert sent[0]["role"] == "user" and "Sources:" not in r.json()["message"]["content"]
    body["stream"] = True
    with httpx.stream("POST", f"{grounded.url}/v1/chat/completions", json={"model": "echo", "stream": True, "messages": body["messages"]}) as resp:
        raw = resp.read().decode()
    assert "Sources:" in raw and raw.rstrip().endswith("data: [DONE]")


def test_corrupt_index_stops_startup_with_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RuntimeError) as e:
        Gateway(UPSTREAM_CONFIG + f'\n[docs]\nindexes = ["{bad}"]\n', "badindex")
    assert "bad.sqlite" in str(e.value)
