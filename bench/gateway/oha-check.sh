#!/usr/bin/env bash
# Independent check of bench-gateway's "added latency": oha (an open-loop HTTP load
# generator we did not write) against nginx serving a fixed OpenAI answer, direct and
# through devassist, in interleaved rounds; then bench-gateway's own fixed-rate phases
# against the same nginx. Prints both side by side and writes oha-check.{md,json}.
#
#   bench/gateway/oha-check.sh --devassist PATH --bench-gateway PATH [--out DIR]
#       [--rounds 5] [--duration 10] [--rate 1000] [--connections 32] [--realtime]
#       [--no-harness]
#
# Needs oha (`cargo install oha --locked`), nginx (`apt-get install nginx-light`) and
# python3. `make bench-oha` builds the binaries and runs it (~6 min).
set -euo pipefail

ROUNDS=5 DURATION=10 RATE=1000 CONNECTIONS=32 REALTIME=0 HARNESS=1
OUT=bench/results DEVASSIST="" BENCH="" OHA=${OHA:-oha} NGINX=${NGINX:-nginx}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --devassist) DEVASSIST=$2; shift 2 ;;
        --bench-gateway) BENCH=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --realtime) REALTIME=1; shift ;;
        --no-harness) HARNESS=0; shift ;;
        *) echo "oha-check: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -x $DEVASSIST ]] || { echo "oha-check: --devassist PATH (a release build) is required" >&2; exit 2; }
[[ $HARNESS == 0 || -x $BENCH ]] || { echo "oha-check: --bench-gateway PATH is required (or --no-harness)" >&2; exit 2; }
command -v "$OHA" >/dev/null || { echo "oha-check: oha not found; install it with: cargo install oha --locked" >&2; exit 2; }
NGINX=$(command -v "$NGINX" || command -v /usr/sbin/nginx || true)
[[ -n $NGINX ]] || { echo "oha-check: nginx not found; install it with: apt-get install nginx-light" >&2; exit 2; }
command -v python3 >/dev/null || { echo "oha-check: python3 is required" >&2; exit 2; }

WORK=$(mktemp -d /tmp/oha-check.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
echo "oha-check: work files in $WORK" >&2

# SCHED_RR priority 1 for nginx, devassist and oha alike, as `bench-gateway --realtime`
# does for its own processes: the comparison only holds under the same scheduling.
RT=()
if [[ $REALTIME == 1 ]]; then
    if chrt -r 1 true 2>/dev/null; then RT=(chrt -r 1); else
        echo "oha-check: cannot use SCHED_RR (not root?); measuring at normal priority" >&2
        REALTIME=0
    fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- nginx: the same fixed answer as bench-gateway's mock, and a 16-chunk SSE stream. ---
WHOLE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}'
chunk() { printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{%s},"finish_reason":%s}]}\n\n' "$1" "$2"; }
{
    chunk '"role":"assistant","content":"tok "' null
    for _ in $(seq 14); do chunk '"content":"tok "' null; done
    chunk '"content":"tok"' '"stop"'
    printf 'data: [DONE]\n\n'
} >"$WORK/stream.sse"
SSE=$(cat "$WORK/stream.sse") # without its final blank line; the config adds it back
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    # Never close a keep-alive connection during a run (the default is every 1,000 requests).
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '$WHOLE';
        }
        location = /sse/v1/chat/completions {
            default_type text/event-stream;
            return 200 '$SSE

';
        }
    }
}
EOF
"${RT[@]}" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx.conf" 2>"$WORK/nginx/stderr.log" &
PIDS+=($!)
UPSTREAM="http://127.0.0.1:$NGINX_PORT"

# --- devassist: one `openai` backend per nginx location. ---
cat >"$WORK/devassist.toml" <<EOF
[log]
level = "warn"

[[backends]]
name = "nginx"
kind = "openai"
url = "$UPSTREAM/v1"

[[backends]]
name = "nginx-sse"
kind = "openai"
url = "$UPSTREAM/sse/v1"

[[models]]
name = "bench"
backend = "nginx"

[[models]]
name = "bench-sse"
backend = "nginx-sse"
EOF
"${RT[@]}" "$DEVASSIST" serve --config "$WORK/devassist.toml" --listen 127.0.0.1:0 \
    >"$WORK/devassist.out" 2>"$WORK/devassist.log" &
PIDS+=($!)
GATEWAY=""
for _ in $(seq 100); do
    GATEWAY=$(sed -n 's/^devassist listening on //p' "$WORK/devassist.out")
    [[ -n $GATEWAY ]] && break
    sleep 0.1
done
[[ -n $GATEWAY ]] || { echo "oha-check: devassist did not start; see $WORK/devassist.log" >&2; exit 1; }

CHAT='{"model":"bench","messages":[{"role":"user","content":"Say hello"}],"max_tokens":64,"stream":false}'
STREAM='{"model":"bench-sse","messages":[{"role":"user","content":"Say hello"}],"max_tokens":64,"stream":true}'
url() { # scenario target
    case "$1/$2" in
        chat/direct) echo "$UPSTREAM/v1/chat/completions" ;;
        stream/direct) echo "$UPSTREAM/sse/v1/chat/completions" ;;
        */devassist) echo "$GATEWAY/v1/chat/completions" ;;
    esac
}
body() { if [[ $1 == chat ]]; then echo "$CHAT"; else echo "$STREAM"; fi; }
expect() { if [[ $1 == chat ]]; then echo "Hello from the mock upstream."; else echo "[DONE]"; fi; }
for s in chat stream; do
    for t in direct devassist; do
        answer=$(curl -sS -X POST -H 'Content-Type: application/json' -d "$(body $s)" "$(url $s $t)" || true)
        [[ $answer == *"$(expect $s)"* ]] || {
            echo "oha-check: $s via $t answered: ${answer:0:300}" >&2
            exit 1
        }
    done
done

oha_run() { # scenario target seconds outfile
    "${RT[@]}" "$OHA" -c "$CONNECTIONS" -q "$RATE" -z "${3}s" -w --latency-correction --no-tui \
        --output-format json -m POST -T application/json -d "$(body "$1")" "$(url "$1" "$2")" >"$4"
}

echo "oha-check: oha -c $CONNECTIONS -q $RATE --latency-correction, ${DURATION} s per run, $ROUNDS rounds, direct and devassist alternating" >&2
for s in chat stream; do
    for t in direct devassist; do oha_run $s $t 2 "$WORK/warmup.json"; done
    for r in $(seq "$ROUNDS"); do
        # ABBA: neither target always runs first.
        if ((r % 2)); then order="direct devassist"; else order="devassist direct"; fi
        for t in $order; do
            oha_run $s $t "$DURATION" "$WORK/oha-$s-$t-$r.json"
            python3 - "$WORK/oha-$s-$t-$r.json" "$s" "$t" "$r" <<'EOF' >&2
import json, sys
x = json.load(open(sys.argv[1]))
p = x["latencyPercentiles"]
print(f"  {sys.argv[2]:<6} round {sys.argv[4]} {sys.argv[3]:<9} p50 {p['p50']*1e3:.3f} ms  p99 {p['p99']*1e3:.3f} ms  "
      f"status {x['statusCodeDistribution']} errors {x['errorDistribution']}")
EOF
        done
    done
done

if [[ $HARNESS == 1 ]]; then
    echo "oha-check: bench-gateway's fixed-rate phases against the same nginx" >&2
    rt_flag=()
    [[ $REALTIME == 1 ]] && rt_flag=(--realtime)
    "$BENCH" run --devassist "$DEVASSIST" --upstream "$UPSTREAM" --latency-only \
        "${rt_flag[@]}" --out "$WORK/harness" >&2
fi

mkdir -p "$OUT"
python3 - "$WORK" "$ROUNDS" "$RATE" "$CONNECTIONS" "$DURATION" "$REALTIME" "$OUT" <<'EOF'
import json, os, statistics, sys, time

work, rounds, rate, conns, duration, realtime, out = sys.argv[1:8]
rounds = int(rounds)
rate = float(rate)

def oha(s, t, r):
    x = json.load(open(os.path.join(work, f"oha-{s}-{t}-{r}.json")))
    p = x["latencyPercentiles"]
    codes = x["statusCodeDistribution"]
    ok = codes.get("200", 0)
    bad = sum(v for k, v in codes.items() if k != "200") + sum(x["errorDistribution"].values())
    return {"p50_ms": p["p50"] * 1e3, "p99_ms": p["p99"] * 1e3, "ok": ok, "errors": bad}

def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}

report = {
    "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "loadavg": open("/proc/loadavg").read().split()[:3],
    "rate": rate, "connections": int(conns), "duration_s": float(duration),
    "rounds": rounds, "realtime": realtime == "1", "oha": {}, "harness": None,
}
for s in ("chat", "stream"):
    runs = {t: [oha(s, t, r) for r in range(1, rounds + 1)] for t in ("direct", "devassist")}
    added = {q: [g[q] - d[q] for d, g in zip(runs["direct"], runs["devassist"])] for q in ("p50_ms", "p99_ms")}
    report["oha"][s] = {
        "runs": runs,
        "direct": {q: spread([x[q] for x in runs["direct"]]) for q in ("p50_ms", "p99_ms")},
        "devassist": {q: spread([x[q] for x in runs["devassist"]]) for q in ("p50_ms", "p99_ms")},
        "added": {q: spread(v) for q, v in added.items()},
        "errors": sum(x["errors"] for t in runs for x in runs[t]),
    }

hpath = os.path.join(work, "harness", "gateway.json")
if os.path.exists(hpath):
    h = json.load(open(hpath))
    pts = {(p["target"], p["result"]["target_rps"]): p for p in h["fixed"]}
    d, g = pts.get(("direct", rate)), pts.get(("devassist", rate))
    if d and g:
        def add(kind, q):
            return (g["result"][kind][q] - d["result"][kind][q]) / 1e3
        def per_round(kind, q):
            return [(a[kind][q] - b[kind][q]) / 1e3 for a, b in zip(g["rounds"], d["rounds"])]
        report["harness"] = {
            kind: {
                "direct": {q: d["result"][kind][q] / 1e3 for q in ("p50_us", "p99_us")},
                "devassist": {q: g["result"][kind][q] / 1e3 for q in ("p50_us", "p99_us")},
                "added": {q: add(kind, q) for q in ("p50_us", "p99_us")},
                "added_rounds": {q: spread(per_round(kind, q)) for q in ("p50_us", "p99_us")},
            }
            for kind in ("service", "latency")
        }

def f(x):
    return f"{x:+.3f}"

def rng(sp):
    return f"{f(sp['median'])} ({f(sp['min'])} … {f(sp['max'])})"

lines = [
    "# Independent check: oha vs bench-gateway, direct vs through devassist",
    "",
    f"Generated by `make bench-oha` (bench/gateway/oha-check.sh) on {report['generated']}; load average "
    f"{' '.join(report['loadavg'])} at the end. Do not edit by hand.",
    "",
    f"- Upstream: nginx (one worker) answering a fixed `chat.completion` body, or a 16-chunk SSE stream all at once; "
    f"devassist (release build, `[log] level = \"warn\"`) with one `openai` backend per answer.",
    f"- oha: `-c {conns} -q {rate:.0f} --latency-correction -z {duration}s`, open loop, each latency counted from the time "
    f"its request was released by oha's rate limiter; {rounds} rounds, direct and devassist alternating (ABBA).",
    f"- Scheduling: {'nginx, devassist, oha and bench-gateway under SCHED_RR priority 1' if report['realtime'] else 'normal priority'}; "
    f"everything shares the machine's cores.",
    "",
    "Latencies in ms: medians over the rounds, with the lowest and highest round in brackets.",
    "",
    "| tool | answer | direct p50 | devassist p50 | added p50 | direct p99 | devassist p99 | added p99 | errors |",
    "|---|---|---|---|---|---|---|---|---|",
]
for s in ("chat", "stream"):
    o = report["oha"][s]
    lines.append(
        f"| oha | {'JSON' if s == 'chat' else 'SSE, 16 chunks'} | {o['direct']['p50_ms']['median']:.3f} | {o['devassist']['p50_ms']['median']:.3f} | "
        f"{rng(o['added']['p50_ms'])} | {o['direct']['p99_ms']['median']:.3f} | {o['devassist']['p99_ms']['median']:.3f} | "
        f"{rng(o['added']['p99_ms'])} | {o['errors']} |"
    )
hh = report["harness"]
if hh:
    for kind, label in (("service", "from send"), ("latency", "from due time")):
        k = hh[kind]
        lines.append(
            f"| bench-gateway, {label} | JSON | {k['direct']['p50_us']:.3f} | {k['devassist']['p50_us']:.3f} | "
            f"{f(k['added']['p50_us'])} (rounds {f(k['added_rounds']['p50_us']['min'])} … {f(k['added_rounds']['p50_us']['max'])}) | "
            f"{k['direct']['p99_us']:.3f} | {k['devassist']['p99_us']:.3f} | "
            f"{f(k['added']['p99_us'])} (rounds {f(k['added_rounds']['p99_us']['min'])} … {f(k['added_rounds']['p99_us']['max'])}) | – |"
        )
    lines += [
        "",
        f"bench-gateway ran `run --latency-only --upstream` against the same nginx, its {rate:.0f} RPS phase: its own "
        "interleaved rounds, all rounds merged into one histogram per target.",
    ]
text = "\n".join(lines) + "\n"
open(os.path.join(out, "oha-check.md"), "w").write(text)
json.dump(report, open(os.path.join(out, "oha-check.json"), "w"), indent=2)
print(text)
EOF
