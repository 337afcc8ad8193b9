#!/usr/bin/env python3
"""GPU side by side: devassist-engine in several configurations and llama.cpp's llama-server, all
on the same shared llama.cpp libraries (built with CUDA from one source tree), the same GGUF, slots,
per-slot context, batch, flash attention and prompts; writes gpu.md (bench/results/gpu.md).
Standard library only. device-run.sh runs it; run it by hand with the same arguments.

Configurations (--configs, in this order):
  old         the engine as it was: per-slot KV streams on whichever slots prefix reuse picks,
              llama.cpp's sampler over the whole vocabulary, one CPU thread per core
  new         the defaults: slot packing, sampling from the logits, 4 CPU threads on a GPU
  unified     new with one KV cache for all slots (--kv-unified true) instead of packing
  no-packing  new without slot packing       (what packing alone is worth)
  slow-sampl  new with llama.cpp's sampler   (what the sampling fast path alone is worth)
  all-cores   new with one thread per core   (what the thread default alone is worth)
  server      llama-server (-np, -c parallel×ctx, -ngl 99), its own defaults otherwise
Each is started once and measured on aggregate decode at --levels concurrent requests (total
tokens ÷ wall time; one untimed short round at that level first), after one request per slot
has left the slots' caches holding the prompts in a shuffled order (see scatter()). `old`, `new` and `server` also
get single-request decode, prompt eval of ~512 tokens and the time to first token of a ~1,500-token
prompt, cold and with the same prefix. Every request is greedy with ignore_eos, so it generates
exactly --gen-tokens tokens. The script stops itself before --deadline (epoch seconds) and rewrites
gpu.md after every configuration, so a run cut short still leaves its figures.
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

TOPICS = ["a robot who learns to paint", "a lighthouse keeper and a storm", "a dragon afraid of heights",
          "two rival bakers", "an astronaut who finds a garden on Mars", "a detective cat",
          "a library that rearranges itself at night", "a child who talks to trees"]

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
'''

ENGINE_ENV = ("DEVASSIST_ENGINE_KV_UNIFIED", "DEVASSIST_ENGINE_SLOT_PACKING", "DEVASSIST_ENGINE_FAST_SAMPLING")
CORES = os.cpu_count() or 1
# name: (kind, environment, extra flags, full measurement, description)
CONFIGS = {
    "old": ("engine", {"DEVASSIST_ENGINE_SLOT_PACKING": "false", "DEVASSIST_ENGINE_FAST_SAMPLING": "false"},
            ["--threads", str(CORES)], True, f"no packing, llama.cpp sampler, {CORES} threads"),
    "new": ("engine", {}, [], True, "defaults: packing, fast sampling, 4 threads"),
    "unified": ("engine", {"DEVASSIST_ENGINE_KV_UNIFIED": "true"}, [], False, "new, unified KV cache"),
    "no-packing": ("engine", {"DEVASSIST_ENGINE_SLOT_PACKING": "false"}, [], False, "new without packing"),
    "slow-sampl": ("engine", {"DEVASSIST_ENGINE_FAST_SAMPLING": "false"}, [], False, "new, llama.cpp sampler"),
    "all-cores": ("engine", {}, ["--threads", str(CORES)], False, f"new, {CORES} threads"),
    "server": ("server", {}, [], True, "llama-server"),
}

T0 = time.time()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')} +{time.time() - T0:6.1f}s] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(port, path, body, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{path}: HTTP {resp.status}: {data[:300]!r}")
    return json.loads(data)


def stream(port, prompt, max_tokens, t_send=None, timeout=300):
    """Stream a greedy completion; client-side timings and token counts."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "repeat_penalty": 1.0, "ignore_eos": True, "stream_options": {"include_usage": True}}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t_send = t_send if t_send is not None else time.perf_counter()
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    times, usage, text, timings = [], None, [], None
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
        if "error" in chunk:
            raise RuntimeError(f"stream error: {chunk['error']}")
        usage = chunk.get("usage") or usage
        timings = chunk.get("timings") or timings
        for choice in chunk.get("choices") or []:
            if choice.get("text"):
                text.append(choice["text"])
                times.append(time.perf_counter())
    conn.close()
    n = (usage or {}).get("completion_tokens") or len(text)
    return {"t_send": t_send, "t_first": times[0] if times else None, "t_last": times[-1] if times else None,
            "n": n, "timings": timings, "text": "".join(text)}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Server:
    def __init__(self, name, argv, port, logfile, env):
        self.name, self.argv, self.port, self.logfile, self.env = name, argv, port, logfile, env
        self.proc = None

    def start(self, timeout):
        t0 = time.perf_counter()
        self.log = open(self.logfile, "w")
        self.log.write("$ " + " ".join(self.argv) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} (see {self.logfile})")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout:.0f} s")

    def stop(self):
        """SIGTERM; the exit status (0 expected; -6 is an abort)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.write(f"\n[bench] exit status {self.proc.returncode}\n")
        self.log.close()
        return self.proc.returncode


def code_prompt(port, tokens_wanted):
    text, i = "", 0
    while True:
        text += CODE_UNIT.format(name=f"filter_values_{i}", cls=f"RingBuffer{i}", n=i * 7 + 3)
        i += 1
        n = len(post_json(port, "/tokenize", {"content": text})["tokens"])
        if n >= tokens_wanted:
            return text, n


def story(i):
    return f"Write a long story about {TOPICS[i % len(TOPICS)]}. ({i})\n"


def aggregate(port, level, gen):
    results, errors = [None] * level, []
    t_start = time.perf_counter()

    def worker(i):
        try:
            results[i] = stream(port, story(i), gen, t_send=t_start)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(level)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    total = sum(r["n"] for r in results)
    wall = max(r["t_last"] for r in results) - t_start
    return {"tps": total / wall, "tokens": total, "wall_s": wall,
            "ttft_max_s": max(r["t_first"] - t_start for r in results),
            "short": sum(1 for r in results if r["n"] < gen)}


def scatter(port, parallel):
    """Leave each slot's cache holding one story prompt, in a shuffled order, as a server that has
    run for a while would: later requests for those prompts find their prefix on slots that are
    not next to each other, which is what slot packing is about. One token each, all at once."""
    order = list(range(parallel))
    order = order[::3] + order[1::3] + order[2::3]
    threads = [threading.Thread(target=stream, args=(port, story(i), 1)) for i in order]
    for t in threads:
        t.start()
        time.sleep(0.005)  # arrive in this order
    for t in threads:
        t.join()


def measure(name, full, server, args, deadline, res):
    port = server.port
    left = lambda: deadline - time.time()  # noqa: E731
    for _ in range(2):
        stream(port, story(99), 16)
    if full:
        dec = []
        for run in range(args.runs):
            if left() < 20:
                break
            r = stream(port, story(run), args.gen_tokens)
            dec.append((r["n"] - 1) / (r["t_last"] - r["t_first"]) if r["n"] > 1 else None)
        res["decode_tps"] = median(dec)
        log(f"{name}: one request: {fmt(res['decode_tps'])} tok/s {[round(x or 0, 1) for x in dec]}")
        p512, n512 = code_prompt(port, min(512, args.ctx // 3))
        code, ncode = code_prompt(port, min(1500, args.ctx // 2))
        pe, tt = [], []
        for _ in range(args.runs):
            if left() < 15:
                break
            t0 = time.perf_counter()
            post_json(port, "/v1/completions", {"prompt": f"# {uuid.uuid4().hex}\n" + p512, "max_tokens": 1,
                                                "temperature": 0})
            pe.append(n512 / (time.perf_counter() - t0))
            base = f"# {uuid.uuid4().hex}\n" + code
            cold = stream(port, base, 4)
            warm = stream(port, base + "\n\ndef summarise(items):\n    return", 4)
            tt.append((cold["t_first"] - cold["t_send"], warm["t_first"] - warm["t_send"]))
        res["prompt_eval_tps"], res["prompt_tokens"] = median(pe), n512
        res["ttft_cold_s"], res["ttft_prefix_s"] = median([c for c, _ in tt]), median([w for _, w in tt])
        res["ttft_tokens"] = ncode
        log(f"{name}: prompt eval {n512} tokens {fmt(res['prompt_eval_tps'], 0)} tok/s; TTFT {ncode} tokens "
            f"cold {fmt(res['ttft_cold_s'], 3)} s, same prefix {fmt(res['ttft_prefix_s'], 3)} s")
    res.setdefault("aggregate", {})
    scatter(port, args.parallel)
    for level in args.levels:
        if left() < 8 + level * 0.3:
            log(f"{name}: {level} concurrent: skipped (time)")
            continue
        aggregate(port, level, 16)  # untimed: allocations, CUDA graphs for this batch size
        samples = []
        for _ in range(args.agg_runs):
            if samples and left() < 8 + level * 0.3:
                break
            samples.append(aggregate(port, level, args.gen_tokens))
        res["aggregate"][str(level)] = {"tps": median([s["tps"] for s in samples]), "samples": samples}
        log(f"{name}: {level} concurrent: {res['aggregate'][str(level)]['tps']:.1f} tok/s "
            f"({[round(s['tps'], 1) for s in samples]}; short {[s['short'] for s in samples]})")


def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"


def parse_batched_bench(path):
    """{B: decode tok/s} from llama-batched-bench's table."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                cols = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cols) >= 8 and cols[2].isdigit():
                    out[int(cols[2])] = float(cols[7])
    except OSError:
        pass
    return out


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return ""


def render(args, results, errors, exits):
    names = [n for n in args.configs if n in results or n in errors]
    bb = parse_batched_bench(args.batched_bench)
    meta = read(args.meta)
    lines = ["# devassist engine on one GPU (`make bench-gpu`)", ""]
    if meta:
        lines += [meta, ""]
    lines += [f"- {args.parallel} slots × {args.ctx} tokens, batch/ubatch {args.batch}, flash attention "
              f"{args.flash_attn}, greedy with ignore_eos, {args.gen_tokens} tokens a request; aggregate = "
              f"total tokens ÷ wall time, median of {args.agg_runs} after one untimed round; single-request "
              f"figures median of {args.runs}.",
              "- Configurations: " + "; ".join(f"`{n}` = {CONFIGS[n][4]}" for n in names) + ".", ""]
    lines += ["## Aggregate decode (tok/s)", "",
              "| concurrent | llama-batched-bench | " + " | ".join(f"`{n}`" for n in names) +
              " | `new` ÷ batched-bench | `new` ÷ `server` |",
              "|---:|---:|" + "---:|" * len(names) + "---:|---:|"]
    agg = {n: {int(k): v["tps"] for k, v in results.get(n, {}).get("aggregate", {}).items()} for n in names}
    for level in args.levels:
        row = [str(level), fmt(bb.get(level))] + [fmt(agg[n].get(level)) for n in names]
        new, srv, ref = agg.get("new", {}).get(level), agg.get("server", {}).get(level), bb.get(level)
        row.append(f"{new / ref:.0%}" if new and ref else "n/a")
        row.append(f"{new / srv:.2f}×" if new and srv else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    one = {n: agg[n].get(1) for n in names}
    lines += ["", "Scaling over one request (aggregate at N ÷ aggregate at 1): " + "; ".join(
        f"`{n}` " + ", ".join(f"{agg[n][lv] / one[n]:.1f}× at {lv}" for lv in args.levels
                              if lv != 1 and one[n] and agg[n].get(lv)) for n in names) + "."]
    full = [n for n in names if CONFIGS[n][3]]
    if full:
        r = {n: results.get(n, {}) for n in full}
        first = next(iter(r.values()), {})
        lines += ["", "## Single request", "", "| figure | " + " | ".join(f"`{n}`" for n in full) + " |",
                  "|---|" + "---:|" * len(full)]
        for label, key, d in [("Decode, one request (tok/s)", "decode_tps", 1),
                              (f"Prompt eval, {first.get('prompt_tokens')}-token prompt, wall (tok/s)", "prompt_eval_tps", 0),
                              (f"TTFT, {first.get('ttft_tokens')}-token prompt, cold (s)", "ttft_cold_s", 3),
                              ("TTFT, same prefix + a few tokens (s)", "ttft_prefix_s", 3),
                              ("Load: start → /health 200 (s)", "load_s", 1)]:
            lines.append(f"| {label} | " + " | ".join(fmt(r[n].get(key), d) for n in full) + " |")
    lines += ["", "Exit status on SIGTERM (0 = orderly; -6 = abort): " +
              ", ".join(f"`{n}` {exits.get(n)}" for n in names) + "."]
    if errors:
        lines += ["", "Errors: " + json.dumps(errors)]
    for title, path in [("llama-batched-bench", args.batched_bench), ("step_bench (one decode step)", args.step_bench)]:
        text = read(path)
        if text:
            lines += ["", f"## {title}", "", "```text", text, "```"]
    return "\n".join(lines) + "\n"


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine-bin", required=True)
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--libdir", required=True, help="LD_LIBRARY_PATH for every server")
    ap.add_argument("--model", required=True)
    ap.add_argument("--parallel", type=int, default=32)
    ap.add_argument("--ctx", type=int, default=4096, help="context per slot")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--flash-attn", default="on")
    ap.add_argument("--gpu-layers", default="99")
    ap.add_argument("--configs", default="old,new,server,unified,no-packing,slow-sampl,all-cores")
    ap.add_argument("--levels", default="1,4,8,32")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--agg-runs", type=int, default=1)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--deadline", type=float, required=True, help="epoch seconds: be done before")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--batched-bench", help="llama-batched-bench output, for the table")
    ap.add_argument("--step-bench", help="step_bench output, appended")
    ap.add_argument("--meta", help="a Markdown list describing the machine, put at the top")
    args = ap.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    args.configs = [c for c in args.configs.split(",") if c in CONFIGS]
    os.makedirs(args.out_dir, exist_ok=True)

    base_env = {k: v for k, v in os.environ.items() if k not in ENGINE_ENV}
    base_env["LD_LIBRARY_PATH"] = args.libdir + (":" + base_env["LD_LIBRARY_PATH"] if base_env.get("LD_LIBRARY_PATH") else "")
    base_env.setdefault("DEVASSIST_LOG", "info")

    def make(name):
        kind, env_add, extra, _, _ = CONFIGS[name]
        port = free_port()
        env = dict(base_env, **env_add)
        if kind == "engine":
            argv = [args.engine_bin, "--model", args.model, "--listen", f"127.0.0.1:{port}", "--parallel",
                    str(args.parallel), "--ctx", str(args.ctx), "--batch", str(args.batch), "--flash-attn",
                    args.flash_attn, "--gpu-layers", args.gpu_layers] + extra
        else:
            argv = [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "-ngl",
                    args.gpu_layers, "-np", str(args.parallel), "-c", str(args.parallel * args.ctx), "-b",
                    str(args.batch), "-ub", str(args.batch), "-fa", args.flash_attn] + extra
        return Server(name, argv, port, os.path.join(args.out_dir, f"{name}.log"), env)

    results, errors, exits = {}, {}, {}
    weight = lambda n: 1.6 if CONFIGS[n][3] else 1.0  # noqa: E731
    for idx, name in enumerate(args.configs):
        remaining = args.deadline - time.time()
        share = remaining * weight(name) / sum(weight(n) for n in args.configs[idx:])
        if remaining < 30:
            errors[name] = "skipped: no time left"
            log(f"{name}: skipped, {remaining:.0f} s left")
            continue
        server = make(name)
        log(f"{name}: starting: {' '.join(server.argv)}")
        res = results.setdefault(name, {})
        try:
            res["load_s"] = server.start(timeout=max(10, min(180, share - 10)))
            log(f"{name}: ready after {res['load_s']:.1f} s")
            measure(name, CONFIGS[name][3], server, args, time.time() + share - 3, res)
        except Exception as e:  # noqa: BLE001
            errors[name] = repr(e)
            log(f"{name}: FAILED: {e!r}")
        finally:
            exits[name] = server.stop()
            log(f"{name}: stopped, exit status {exits[name]}")
        with open(os.path.join(args.out_dir, "results.json"), "w") as f:
            json.dump({"results": results, "errors": errors, "exits": exits, "args": vars(args)}, f, indent=1)
        with open(os.path.join(args.out_dir, "gpu.md"), "w") as f:
            f.write(render(args, results, errors, exits))
    text = render(args, results, errors, exits)
    print(text, flush=True)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
