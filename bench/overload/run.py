"""Overload check for devassist (`make bench-overload`; not part of `make test`).

Open loop: 1,000 requests a second for 10 s to a model that never answers (the mock
backend's `hang` fault), each on its own connection, held open until the end, while a healthy
mock model is asked once a second. Two configurations, one run each:

- `backend-cap`: the hung model's backend has its own cap (`max_concurrent` 64 +
  `max_queue` 64) under the server-wide `max_in_flight` 512. Expected: every healthy request
  answers 200; the hung model's excess requests get 503 at once.
- `server-cap`: no per-backend cap; only `max_in_flight` 256. Expected: the gateway stays
  reachable and fast (excess requests, healthy ones included once the hung model holds every
  place, get 503 from the in-flight cap), and its memory stays bounded. This shows what the
  server-wide cap protects (descriptors, memory, the gateway itself) and what only a
  per-backend cap protects (the other models).

For each: the 503s' latency (connect to response head, p50/p99/max), how many requests got
what, the healthy requests' answers, the gateway's RSS (idle before, peak during, and 60 s
after the load ended; the peak must stay under --rss-bound-mib, the last within ±20 % of
idle).

Usage: run.py --devassist PATH [--rps 1000] [--seconds 10] [--after 60] [--out bench/results]
"""

import argparse
import asyncio
import json
import os
import pathlib
import platform
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = {
    "backend-cap": {
        "max_in_flight": 512,
        "hung_limits": 'max_concurrent = 64\nmax_queue = 64\n',
    },
    "server-cap": {
        "max_in_flight": 256,
        "hung_limits": "",
    },
}

CONFIG = """
[server]
max_in_flight = {max_in_flight}

[log]
level = "info"
format = "json"

[[backends]]
name = "stuck"
kind = "mock"
[backends.lifecycle]
provider = "always_on"
{hung_limits}

[[backends]]
name = "healthy"
kind = "mock"
[backends.mock]
mode = "echo"

[[models]]
name = "hang"
backend = "stuck"
capabilities = ["completion"]

[[models]]
name = "echo"
backend = "healthy"
capabilities = ["completion"]
"""


def request(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n")
    return head.encode() + data


HUNG = request("/api/generate", {"model": "hang", "prompt": "x", "stream": False})
HEALTHY = request("/v1/chat/completions",
                  {"model": "echo", "messages": [{"role": "user", "content": "hi"}]})


class Gateway:
    def __init__(self, binary: str, config: str, workdir: pathlib.Path):
        path = workdir / "devassist.toml"
        path.write_text(config)
        self.log_path = workdir / "devassist.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                line = self.proc.stdout.readline()
                if line.startswith("devassist listening on "):
                    host, port = line.split("http://", 1)[1].strip().split(":")
                    self.addr = (host, int(port))
                    return
            if self.proc.poll() is not None:
                break
        raise RuntimeError("devassist did not start")

    def rss_mib(self, field="VmRSS") -> float:
        """RSS in MiB; `RssAnon` is the part that is the gateway's own memory, `RssFile` the
        pages of the binary (and libraries) it has touched."""
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def rss_parts(self) -> dict:
        return {k: round(self.rss_mib(k), 1) for k in ("VmRSS", "RssAnon", "RssFile")}

    def refusal_ms(self) -> list[float]:
        """The gateway's own time for each 503 (its access log's `ms`: head read to response
        ready), without the client's and the network's share."""
        self.log.flush()
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                fields = json.loads(line).get("fields", {})
            except ValueError:
                continue
            if fields.get("status") == 503 and "ms" in fields:
                out.append(float(fields["ms"]))
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def exchange(addr, payload: bytes, hold: asyncio.Event, timeout: float):
    """Sends one request on a new connection; returns (status or None, seconds to the
    response head or to the failure, writer to close later or None)."""
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return f"connect: {type(e).__name__}", time.perf_counter() - t0, None
    writer.write(payload)
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except asyncio.TimeoutError:
        # Held by the gateway (a hung request in the backend's slots): keep it open.
        await hold.wait()
        writer.close()
        return "held", time.perf_counter() - t0, None
    except OSError as e:
        writer.close()
        return f"read: {type(e).__name__}", time.perf_counter() - t0, None
    took = time.perf_counter() - t0
    writer.close()
    parts = line.split()
    return (int(parts[1]) if len(parts) > 1 else "closed"), took, None


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def load(gw: Gateway, rps: int, seconds: float):
    hold = asyncio.Event()
    hung_tasks, healthy = [], []
    rss_peak = gw.rss_mib()
    start = time.perf_counter()
    n = int(rps * seconds)

    async def healthy_loop():
        for i in range(int(seconds)):
            await asyncio.sleep(max(0.0, start + i + 0.5 - time.perf_counter()))
            healthy.append(await exchange(gw.addr, HEALTHY, hold, timeout=5))

    async def rss_loop():
        nonlocal rss_peak
        while not hold.is_set():
            rss_peak = max(rss_peak, gw.rss_mib())
            await asyncio.sleep(0.1)

    side = [asyncio.create_task(healthy_loop()), asyncio.create_task(rss_loop())]
    lag = []
    for i in range(n):
        due = start + i / rps
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        lag.append(time.perf_counter() - due)
        # A 2 s wait for the head: a 503 comes in milliseconds, a held request never.
        hung_tasks.append(asyncio.create_task(exchange(gw.addr, HUNG, hold, timeout=2)))
    await side[0]
    await asyncio.sleep(2.5)  # the last requests reach their 2 s verdict
    rss_peak = max(rss_peak, gw.rss_mib())
    hold.set()
    await side[1]
    results = await asyncio.gather(*hung_tasks)
    return results, healthy, rss_peak, lag


def run_one(name: str, binary: str, rps: int, seconds: float, after: float, bound: float):
    with tempfile.TemporaryDirectory(prefix=f"devassist-overload-{name}-") as d:
        gw = Gateway(binary, CONFIG.format(**CONFIGS[name]), pathlib.Path(d))
        try:
            # Warm up both paths, then settle.
            for _ in range(20):
                asyncio.run(exchange(gw.addr, HEALTHY, asyncio.Event(), 5))
            time.sleep(2)
            idle = gw.rss_mib()
            idle_parts = gw.rss_parts()
            results, healthy, peak, lag = asyncio.run(load(gw, rps, seconds))
            ended = time.time()
            time.sleep(max(0.0, after - (time.time() - ended)))
            later = gw.rss_mib()
            later_parts = gw.rss_parts()
            alive = gw.proc.poll() is None
            inside = gw.refusal_ms()
        finally:
            gw.stop()
    counts = {}
    for status, _, _ in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    fast = [t * 1000 for status, t, _ in results if status == 503]
    healthy_status = [s for s, _, _ in healthy]
    healthy_ms = [t * 1000 for s, t, _ in healthy if s == 200]
    r = {
        "config": name,
        "requests": len(results),
        "outcomes": counts,
        "503_ms": {"p50": pct(fast, 50), "p99": pct(fast, 99), "max": max(fast) if fast else None},
        "503_gateway_ms": {"p50": pct(inside, 50), "p99": pct(inside, 99),
                           "max": max(inside) if inside else None, "n": len(inside)},
        "healthy": {"asked": len(healthy), "answered_200": healthy_status.count(200),
                    "statuses": healthy_status,
                    "ms": {"p50": pct(healthy_ms, 50), "max": max(healthy_ms) if healthy_ms else None}},
        "rss_mib": {"idle": round(idle, 1), "peak": round(peak, 1), "after": round(later, 1),
                    "after_s": after, "bound": bound,
                    "idle_parts": idle_parts, "after_parts": later_parts},
        "send_lag_ms_p99": round(pct(lag, 99) * 1000, 2),
        "gateway_alive": alive,
    }
    r["checks"] = {
        "rss_under_bound": peak <= bound,
        "rss_back_to_idle": abs(later - idle) <= 0.2 * idle,
        "excess_got_503": counts.get("503", 0) > 0 and all(
            k in ("503", "held") for k in counts),
        "healthy_all_answered": healthy_status.count(200) == len(healthy),
    }
    return r


def report(results, args) -> str:
    lines = [
        "# Overload",
        "",
        f"`make bench-overload`: {args.rps} requests/s for {args.seconds:g} s to a hung model "
        "(each on its own connection, held open), a healthy model asked once a second. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}; "
        f"load average {args.load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other work on the machine shows in the client's figures first).",
        "",
        "503 latency: at the client (connect to response head, Python asyncio on the same machine) "
        "and inside the gateway (its access log: request head read to response ready).",
        "",
        "| config | requests | outcomes | 503 at client p50 / p99 / max (ms) | 503 in gateway p50 / p99 / max (ms) "
        "| healthy 200 | RSS idle / peak / after (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        o = ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items()))
        def ms(f):
            return " / ".join("-" if f[k] is None else f"{f[k]:.2f}" for k in ("p50", "p99", "max"))
        h = r["healthy"]
        m = r["rss_mib"]
        lines.append(f"| {r['config']} | {r['requests']} | {o} | {ms(r['503_ms'])} | {ms(r['503_gateway_ms'])} "
                     f"| {h['answered_200']} of {h['asked']} | {m['idle']} / {m['peak']} / {m['after']} "
                     f"(+{m['after_s']:g} s) |")
    lines.append("")
    for r in results:
        lines.append(f"- {r['config']}: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in r["checks"].items())
                     + f"; client send lag p99 {r['send_lag_ms_p99']} ms")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--devassist", required=True)
    p.add_argument("--rps", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--after", type=float, default=60)
    p.add_argument("--rss-bound-mib", type=float, default=100)
    p.add_argument("--config", choices=list(CONFIGS), action="append")
    p.add_argument("--out")
    args = p.parse_args()
    args.load_before = os.getloadavg()[0]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    for name in args.config or list(CONFIGS):
        print(f"== {name}", file=sys.stderr, flush=True)
        results.append(run_one(name, args.devassist, args.rps, args.seconds, args.after, args.rss_bound_mib))
        print(json.dumps(results[-1], indent=1), file=sys.stderr, flush=True)
    text = report(results, args)
    print(text)
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "overload.md").write_text(text)
        (out / "overload.json").write_text(json.dumps(results, indent=1) + "\n")
    # backend-cap is the configuration that must pass every check.
    ok = all(all(r["checks"].values()) for r in results if r["config"] == "backend-cap")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
