"""Prompt caching through Claude Code's billing line (`make bench-prompt-cache`).

Claude Code's first system block, `x-anthropic-billing-header: …; cch=<nonce>;`, changes on
every request. Left in the prompt it is the first thing the model reads, so the second
turn of a conversation shares almost no prefix with the first and the engine evaluates the
whole system prompt again. devassist removes such lines (`[prompt_cache] volatile_lines`,
default: the billing line) before the prompt is built.

For each mode (normalised: the default config; off: `volatile_lines = []`) a fresh
`devassist serve` runs the default model (`make run`'s: SmolLM2-135M on the embedded
engine, default engine settings). After one unmeasured warm-up request (the model load),
conversations of two turns go to `POST /v1/messages` (streamed, greedy, 16 tokens): turn 1
is the ~3,000-token system prompt and a question; turn 2 repeats it with the answer and a
follow-up. The billing line's nonce differs between the turns, as Claude Code's does. Each
conversation starts its system prompt with its own line, so no conversation reuses another's
cache. TTFT is the time from sending the request to the first `content_block_delta`.

Writes bench/results/prompt-cache.md. Usage:
    run.py --devassist PATH [--conversations 3] [--out bench/results]
"""

import argparse
import json
import os
import pathlib
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS_DIR = pathlib.Path(
    os.environ.get("DEVASSIST_MODELS")
    or pathlib.Path(os.environ.get("XDG_DATA_HOME", pathlib.Path.home() / ".local/share")) / "devassist/models"
)
MODEL = "smollm2:135m"

TOPICS = [
    "error handling", "logging", "naming", "tests", "documentation", "dependencies",
    "configuration", "performance", "security", "concurrency", "reviews", "releases",
]


def system_prompt(conversation: int) -> str:
    """About 3,000 tokens of coding-assistant instructions, first line unique per conversation."""
    lines = [f"Session {conversation}: you are a coding assistant working in a Rust repository."]
    n = 0
    while sum(len(l) for l in lines) < 13_300:
        topic = TOPICS[n % len(TOPICS)]
        lines.append(
            f"Rule {n + 1} ({topic}): when the user asks about {topic}, read the relevant files "
            f"first, explain what you found in two or three sentences, propose the smallest change "
            f"that solves the problem, and mention any test that covers rule {n + 1}."
        )
        n += 1
    return "\n".join(lines)


def billing(nonce: str) -> dict:
    return {"type": "text",
            "text": f"x-anthropic-billing-header: cc_version=2.1.37.8f3; cc_entrypoint=cli; cch={nonce};"}


class Gateway:
    def __init__(self, binary: str, config: str, workdir: pathlib.Path):
        path = workdir / "devassist.toml"
        path.write_text(config)
        self.log = open(workdir / "devassist.log", "w")
        env = {"RUST_LOG": "warn", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "DEVASSIST_MODELS": str(MODELS_DIR), "HOME": os.environ.get("HOME", "/root")}
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                line = self.proc.stdout.readline()
                if line.startswith("devassist listening on "):
                    self.url = line.split(" on ", 1)[1].strip()
                    return
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"devassist did not start: {(workdir / 'devassist.log').read_text()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def turn(url: str, system: list, messages: list) -> tuple[float, str, int]:
    """(TTFT in seconds, answer text, input tokens) of one streamed request."""
    body = {"model": MODEL, "max_tokens": 16, "temperature": 0, "stream": True,
            "system": system, "messages": messages}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "local"}
    text, ttft, input_tokens = [], None, 0
    start = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/messages", json=body, headers=headers, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            data = json.loads(line[6:])
            if data["type"] in ("content_block_delta", "message_delta") and ttft is None:
                ttft = time.perf_counter() - start
            if data["type"] == "content_block_delta":
                text.append(data["delta"].get("text", ""))
            if data["type"] == "message_delta":
                input_tokens = data["usage"]["input_tokens"]
            if data["type"] == "error":
                raise RuntimeError(data)
    return ttft or 0.0, "".join(text), input_tokens


def conversation(url: str, name: str, c: int) -> dict:
    """Two turns over conversation `c`'s system prompt, the billing nonce changing."""
    system = [{"type": "text", "text": system_prompt(c)}]
    q1 = [{"role": "user", "content": "Where should I start reading this repository?"}]
    t1, a1, n1 = turn(url, [billing(f"{c}a{time.time_ns() % 99999:05d}")] + system, q1)
    q2 = q1 + [{"role": "assistant", "content": a1 or "."},
               {"role": "user", "content": "And which tests should I run first?"}]
    t2, _, n2 = turn(url, [billing(f"{c}b{time.time_ns() % 99999:05d}")] + system, q2)
    print(f"  {name} conversation {c + 1}: turn 1 {t1 * 1000:.0f} ms ({n1} tokens), "
          f"turn 2 {t2 * 1000:.0f} ms ({n2} tokens), {t1 / t2:.1f}x, load {load()}", flush=True)
    return {"turn1_s": t1, "turn2_s": t2, "turn1_tokens": n1, "turn2_tokens": n2, "load": load()}


def run_mode(binary: str, name: str, extra: str, conversations: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-prompt-cache-{name}-") as tmp:
        gw = Gateway(binary, extra, pathlib.Path(tmp))
        try:
            turn(gw.url, [{"type": "text", "text": "Warm-up."}], [{"role": "user", "content": "Hi."}])
            rows, timeouts = [], 0
            for c in range(conversations):
                for attempt in range(3):
                    try:
                        rows.append(conversation(gw.url, name, c + 100 * attempt))
                        break
                    except httpx.HTTPStatusError as e:
                        # The engine backend's 60 s limit between two chunks: a cold
                        # prefill on a busy machine can exceed it. Counted and retried
                        # with a fresh system prompt.
                        if e.response.status_code != 504:
                            raise
                        timeouts += 1
                        print(f"  {name} conversation {c + 1}: 504 (attempt {attempt + 1})", flush=True)
            return {"mode": name, "rows": rows, "timeouts": timeouts}
        finally:
            gw.stop()


def load() -> str:
    try:
        return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devassist", required=True)
    ap.add_argument("--conversations", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--threads", type=int, help="[engine] threads (default: the engine's, all cores)")
    args = ap.parse_args()
    if not (MODELS_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf").exists():
        sys.exit(f"the default model is missing in {MODELS_DIR} (run scripts/setup.sh)")
    load_before = load()
    engine = f"[engine]\nthreads = {args.threads}\n" if args.threads else ""
    results = [
        run_mode(args.devassist, "normalised", engine, args.conversations),
        run_mode(args.devassist, "off", engine + "[prompt_cache]\nvolatile_lines = []\n", args.conversations),
    ]
    load_after = load()
    med = lambda rows, k: statistics.median(r[k] for r in rows)
    lines = [
        "# Prompt caching through Claude Code's billing line",
        "",
        f"`make bench-prompt-cache`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, load average before {load_before}, after {load_after}. "
        f"Default model ({MODEL}) on the embedded engine, default engine settings"
        f"{f' but {args.threads} thread(s)' if args.threads else ''}; binary `{args.devassist}`; "
        f"{args.conversations} two-turn conversations per mode, the billing line's nonce changing between turns. "
        "TTFT: request sent → first `content_block_delta`.",
        "",
        "| volatile lines | prompt tokens (turn 1) | turn 1 TTFT (median) | turn 2 TTFT (median) | turn 1 / turn 2 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        t1, t2 = med(r["rows"], "turn1_s"), med(r["rows"], "turn2_s")
        tokens = med(r["rows"], "turn1_tokens")
        label = "removed (default)" if r["mode"] == "normalised" else "kept (`volatile_lines = []`)"
        lines.append(f"| {label} | {tokens:.0f} | {t1 * 1000:.0f} ms | {t2 * 1000:.0f} ms | {t1 / t2:.1f}× |")
    lines += ["", "Per conversation (turn 1 ms / turn 2 ms, load average after it):", ""]
    for r in results:
        per = ", ".join(f"{x['turn1_s'] * 1000:.0f}/{x['turn2_s'] * 1000:.0f} ({x['load'].split()[0]})"
                        for x in r["rows"])
        retried = f"; {r['timeouts']} conversation(s) retried after a 504" if r["timeouts"] else ""
        lines.append(f"- {r['mode']}: {per}{retried}")
    report = "\n".join(lines) + "\n"
    print(report)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prompt-cache.md").write_text(report)
    (out / "prompt-cache.json").write_text(json.dumps(
        {"load_before": load_before, "load_after": load_after, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
