#!/usr/bin/env python3
"""Benchmark `devassist engine` against llama.cpp's reference server from its Python binding
(llama-cpp-python), in one run, on the same GGUF file, thread count and prompts.

Measured for each server (client-side clocks, streaming SSE over HTTP):
  - single-request decode tokens/s (time between the first and the last streamed token)
  - prompt-eval tokens/s (a 512-token prompt, 1 output token, wall time)
  - time to first token for a 1,500-token code prompt (cold: no cached prefix)
  - repeated-prefix TTFT: the same 1,500-token prefix plus ~10 new tokens, after the prefix ran
  - aggregate decode tokens/s at 1, 4 and 8 concurrent requests
  - peak RSS (VmHWM) and cold start (process start to first streamed token)

Every cold prompt starts with a unique line so neither server can reuse a cached prefix.
Writes Markdown to --out and the raw figures to --out with a .raw suffix. Standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

STORY_TOPICS = [
    "a robot who learns to paint",
    "a lighthouse keeper and a storm",
    "a dragon who is afraid of heights",
    "two rival bakers in a small town",
    "an astronaut who finds a garden on Mars",
    "a detective cat solving a mystery",
    "a library that rearranges itself at night",
    "a child who can talk to trees",
]

CODE_UNIT = '''
def {name}(values, threshold={n}):
    """Return the items of `values` above `threshold`, sorted, without duplicates."""
    seen = set()
    result = []
    for value in values:
        if value > threshold and value not in seen:
            seen.add(value)
            result.append(value)
    result.sort()
    return result


class {cls}:
    def __init__(self, size={n}):
        self.size = size
        self.items = []

    def push(self, item):
        if len(self.items) >= self.size:
            self.items.pop(0)
        self.items.append(item)
'''


def chat_prompt(user):
    """SmolLM2's chat layout, sent as a raw completion so both servers see the same tokens."""
    return (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(port, path, body, timeout=900):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{path}: HTTP {resp.status}: {data[:300]!r}")
    return json.loads(data)


def stream(port, prompt, max_tokens, t_send=None):
    """Stream a greedy completion; return timings (seconds) and the pieces."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True, "repeat_penalty": 1.0}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    t_send = t_send if t_send is not None else time.perf_counter()
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    pieces, times = [], []
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        payload = line[6:]
        if payload == b"[DONE]":
            break
        chunk = json.loads(payload)
        choices = chunk.get("choices") or []
        text = choices[0].get("text", "") if choices else ""
        if text:
            pieces.append(text)
            times.append(time.perf_counter())
    conn.close()
    return {
        "t_send": t_send,
        "t_first": times[0] if times else None,
        "t_last": times[-1] if times else None,
        "n": len(pieces),
        "text": "".join(pieces),
    }


class Server:
    """A server process: ours prints a readiness line, the reference is polled."""

    def __init__(self, name, argv, port, readiness_line):
        self.name, self.argv, self.port, self.readiness_line = name, argv, port, readiness_line
        self.proc = None

    def start(self):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        if self.readiness_line:
            line = self.proc.stdout.readline()
            if not line.startswith("devassist-engine listening on "):
                raise RuntimeError(f"{self.name}: no readiness line ({line!r})")
            self.port = int(line.strip().rsplit(":", 1)[1])
        else:
            deadline = time.time() + 600
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    conn.request("GET", "/v1/models")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.02)
        return t0

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def build_code_prompt(port, tokens_wanted):
    """Synthetic Python source of about `tokens_wanted` tokens (counted by our /tokenize)."""
    text, i = "", 0
    while True:
        text += CODE_UNIT.format(name=f"filter_values_{i}", cls=f"RingBuffer{i}", n=i * 7 + 3)
        i += 1
        n = len(post_json(port, "/tokenize", {"content": text})["tokens"])
        if n >= tokens_wanted:
            return text, n


def unique_head():
    return f"# session {uuid.uuid4().hex}\n"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def decode_rate(server, run, gen_tokens):
    res = stream(server.port, chat_prompt(f"Write a long story about {STORY_TOPICS[run % 8]}."), gen_tokens)
    return (res["n"] - 1) / (res["t_last"] - res["t_first"]) if res["n"] > 1 else None


def prompt_eval_rate(server, prompts):
    t0 = time.perf_counter()
    post_json(server.port, "/v1/completions",
              {"prompt": unique_head() + prompts["p512"], "max_tokens": 1, "temperature": 0,
               "repeat_penalty": 1.0})
    return prompts["p512_tokens"] / (time.perf_counter() - t0)


def ttft_cold_and_prefix(server, prompts):
    base = unique_head() + prompts["code"]
    cold = stream(server.port, base, 8)
    warm = stream(server.port, base + prompts["extension"], 8)
    return cold["t_first"] - cold["t_send"], warm["t_first"] - warm["t_send"]


def aggregate_rate(server, level, gen_tokens):
    results = [None] * level
    t_start = time.perf_counter()

    def worker(i):
        prompt = chat_prompt(f"Write a long story about {STORY_TOPICS[i % 8]}.")
        results[i] = stream(server.port, prompt, gen_tokens, t_send=t_start)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(level)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(r["n"] for r in results)
    return total / (max(r["t_last"] for r in results) - t_start)


def interleaved(runs, servers, fn):
    """Run `fn(server, run)` `runs` times per server, alternating the order every run so slow
    drifts in the machine's load hit both servers alike; return the medians per server."""
    values = {key: [] for key in servers}
    keys = list(servers)
    for run in range(runs):
        for key in keys if run % 2 == 0 else reversed(keys):
            values[key].append(fn(servers[key], run))
    return values


def cold_start(make_server):
    server = make_server()
    try:
        t0 = server.start()
        res = stream(server.port, chat_prompt("Hi"), 1)
        return res["t_first"] - t0
    finally:
        server.stop()


def fmt(v, unit="", digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}{unit}"


def main():
    # Turn SIGTERM into an exception so the `finally` blocks stop the servers we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine-bin", required=True, help="the devassist-engine (or devassist) binary")
    ap.add_argument("--python", required=True, help="python of the venv with llama-cpp-python[server]")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--out", default="bench/results/engine.md")
    args = ap.parse_args()

    engine_argv = [args.engine_bin]
    if os.path.basename(args.engine_bin) == "devassist":
        engine_argv.append("engine")

    def ours(parallel):
        argv = engine_argv + ["--model", args.model, "--listen", "127.0.0.1:0", "--ctx", str(args.ctx),
                              "--threads", str(args.threads), "--parallel", str(parallel)]
        return Server(f"devassist engine (--parallel {parallel})", argv, None, True)

    def reference():
        port = free_port()
        argv = [args.python, "-m", "llama_cpp.server", "--model", args.model, "--host", "127.0.0.1",
                "--port", str(port), "--n_ctx", str(args.ctx), "--n_threads", str(args.threads),
                "--n_threads_batch", str(args.threads), "--verbose", "False",
                # Queue concurrent requests instead of cancelling the running one.
                "--interrupt_requests", "False"]
        return Server("llama-cpp-python server", argv, port, False)

    load_before = os.getloadavg()
    results = {}

    # Prompts, counted with our tokenizer (both servers load the same GGUF vocabulary).
    probe = ours(1)
    probe.start()
    try:
        code, code_tokens = build_code_prompt(probe.port, 1500)
        p512, p512_tokens = build_code_prompt(probe.port, 512)
        extension = "\n\ndef summarise(items):\n    return"
        ext_tokens = len(post_json(probe.port, "/tokenize", {"content": extension})["tokens"])
    finally:
        probe.stop()
    prompts = {"code": code, "code_tokens": code_tokens, "p512": p512, "p512_tokens": p512_tokens,
               "extension": extension}

    # All three servers stay up for the whole run and are measured in alternation.
    servers = {"ours": ours(1), "reference": reference(), "ours8": ours(8)}
    greedy = {}
    try:
        for key, server in servers.items():
            server.start()
            stream(server.port, chat_prompt("Say hello."), 8)  # warm-up
        single = {"ours": servers["ours"], "reference": servers["reference"]}
        print("== decode", file=sys.stderr)
        decode = interleaved(args.runs, single, lambda srv, run: decode_rate(srv, run, args.gen_tokens))
        print("== prompt eval", file=sys.stderr)
        prompt_eval = interleaved(args.runs, single, lambda srv, run: prompt_eval_rate(srv, prompts))
        print("== time to first token", file=sys.stderr)
        ttft = interleaved(args.runs, single, lambda srv, run: ttft_cold_and_prefix(srv, prompts))
        aggregate = {}
        for level in (1, 4, 8):
            print(f"== {level} concurrent", file=sys.stderr)
            pair = {"ours8": servers["ours8"], "reference": servers["reference"]}
            aggregate[level] = interleaved(args.runs, pair,
                                           lambda srv, run, level=level: aggregate_rate(srv, level, args.gen_tokens))
        for key in single:
            results[key] = {
                "decode_tps": median(decode[key]),
                "prompt_eval_tps": median(prompt_eval[key]),
                "ttft_1500_cold_s": median([c for c, _ in ttft[key]]),
                "ttft_1500_prefix_s": median([w for _, w in ttft[key]]),
                "samples": {"decode": decode[key], "prompt_eval": prompt_eval[key], "ttft": ttft[key]},
            }
        results["ours8"] = {}
        for key in ("ours8", "reference"):
            results[key]["aggregate_tps"] = {str(l): median(aggregate[l][key]) for l in aggregate}
            results[key]["aggregate_samples"] = {str(l): aggregate[l][key] for l in aggregate}
        for key, server in servers.items():
            results[key]["peak_rss_mb"] = server.peak_rss_mb()
            greedy[key] = {
                "code": stream(server.port, "def fibonacci(n):\n", 48)["text"],
                "chat": stream(server.port, chat_prompt("What is the capital of France?"), 48)["text"],
            }
    finally:
        for server in servers.values():
            server.stop()
    print("== cold start", file=sys.stderr)
    starts = interleaved(args.runs, {"ours": lambda: ours(1), "reference": reference},
                         lambda make, run: cold_start(make))
    results["ours"]["cold_start_s"] = median(starts["ours"])
    results["reference"]["cold_start_s"] = median(starts["reference"])
    load_after = os.getloadavg()

    o, r, o8 = results["ours"], results["reference"], results["ours8"]
    ratio = lambda a, b: None if (a is None or not b) else a / b
    single = o8["aggregate_tps"]["1"]
    rows = [
        ("Decode, one request (tok/s)", fmt(o["decode_tps"]), fmt(r["decode_tps"]), fmt(ratio(o["decode_tps"], r["decode_tps"]), "×", 2), "≥ 0.95×"),
        ("Prompt eval, 512 tokens (tok/s)", fmt(o["prompt_eval_tps"]), fmt(r["prompt_eval_tps"]), fmt(ratio(o["prompt_eval_tps"], r["prompt_eval_tps"]), "×", 2), "≥ 0.95×"),
        (f"TTFT, {code_tokens}-token code prompt, cold (s)", fmt(o["ttft_1500_cold_s"], "", 2), fmt(r["ttft_1500_cold_s"], "", 2), "", ""),
        (f"TTFT, same prefix + {ext_tokens} new tokens (s)", fmt(o["ttft_1500_prefix_s"], "", 3), fmt(r["ttft_1500_prefix_s"], "", 3), "", ""),
        ("Repeated-prefix speed-up (cold ÷ warm TTFT)", fmt(ratio(o["ttft_1500_cold_s"], o["ttft_1500_prefix_s"]), "×"), fmt(ratio(r["ttft_1500_cold_s"], r["ttft_1500_prefix_s"]), "×"), "", "≥ 5×"),
        ("Aggregate decode, 1 concurrent (tok/s)", fmt(o8["aggregate_tps"]["1"]), fmt(r["aggregate_tps"]["1"]), "", ""),
        ("Aggregate decode, 4 concurrent (tok/s)", fmt(o8["aggregate_tps"]["4"]), fmt(r["aggregate_tps"]["4"]), "", f"≥ 2× single ({fmt(ratio(o8['aggregate_tps']['4'], single), '×', 2)})"),
        ("Aggregate decode, 8 concurrent (tok/s)", fmt(o8["aggregate_tps"]["8"]), fmt(r["aggregate_tps"]["8"]), "", f"{fmt(ratio(o8['aggregate_tps']['8'], single), '×', 2)} single"),
        ("Peak RSS, one slot (MB)", fmt(o["peak_rss_mb"], "", 0), fmt(r["peak_rss_mb"], "", 0), "", ""),
        ("Peak RSS, eight slots (MB)", fmt(o8["peak_rss_mb"], "", 0), "", "", ""),
        ("Cold start: process start → first token (s)", fmt(o["cold_start_s"], "", 2), fmt(r["cold_start_s"], "", 2), "", ""),
    ]
    lines_greedy = []
    for prompt in ("code", "chat"):
        ours_text, ref_text = greedy["ours"][prompt], greedy["reference"][prompt]
        diff = next((i for i, (a, b) in enumerate(zip(ours_text, ref_text)) if a != b), None)
        if diff is None and len(ours_text) != len(ref_text):
            diff = min(len(ours_text), len(ref_text))
        verdict = "identical" if diff is None else f"first difference at character {diff}"
        lines_greedy += [
            f"- {prompt} prompt, 48 tokens: {verdict}",
            f"  - devassist: {ours_text[:120]!r}",
            f"  - reference: {ref_text[:120]!r}",
        ]
    lines = [
        "# Embedded engine benchmark",
        "",
        "`make bench-engine` (bench/engine/bench_engine.py): `devassist engine` against llama.cpp's reference",
        "server from its Python binding (`llama-cpp-python[server]`), one run, same GGUF, thread count and prompts.",
        "",
        f"- Model: `{os.path.basename(args.model)}`; threads: {args.threads}; context: {args.ctx} tokens per slot;"
        f" {args.runs} runs per figure (median); {args.gen_tokens} generated tokens per decode request, greedy.",
        f"- Machine: {os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
        " (the machine is shared: figures move with the load).",
        "- Clocks are client-side over HTTP/SSE. Decode = (tokens − 1) ÷ (last − first token time).",
        "- devassist runs with `--parallel 1` for the single-request rows, RSS and cold start, and with",
        "  `--parallel 8` for the concurrency rows; the reference server handles one request at a time",
        "  (`--interrupt_requests False`, so concurrent requests queue). All servers run side by side and",
        "  each figure alternates between them run by run. Sampling: greedy, `repeat_penalty` 1.0 on both.",
        "",
        "| Figure | devassist engine | llama-cpp-python | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += [
        "",
        "Greedy outputs on both servers. They are two llama.cpp builds, and devassist uses flash attention",
        "where llama.cpp enables it (the reference does not), so near-tied logits can resolve differently:",
        "",
        *lines_greedy,
        "",
    ]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(args.out)[0] + ".raw", "w") as f:
        json.dump({"results": results, "prompts": {"code_tokens": code_tokens, "p512_tokens": p512_tokens,
                   "extension_tokens": ext_tokens}, "greedy": greedy,
                   "load": [load_before, load_after]}, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
