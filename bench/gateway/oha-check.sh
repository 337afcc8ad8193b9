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
# python3 (bench/gateway/oha_summary.py does the arithmetic). `make bench-oha` builds the
# binaries and runs it (~6 min).
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

# CSV: one line per answered request, so the rounds of a target can be pooled into one set
# of percentiles, as bench-gateway merges its slices.
oha_run() { # scenario target seconds outfile
    "${RT[@]}" "$OHA" -c "$CONNECTIONS" -q "$RATE" -z "${3}s" -w --latency-correction --no-tui \
        --output-format csv -m POST -T application/json -d "$(body "$1")" "$(url "$1" "$2")" >"$4"
}

HERE=$(dirname "$0")
echo "oha-check: oha -c $CONNECTIONS -q $RATE --latency-correction, ${DURATION} s per run, $ROUNDS rounds, direct and devassist alternating" >&2
for s in chat stream; do
    for t in direct devassist; do oha_run $s $t 2 "$WORK/warmup.csv"; done
    for r in $(seq "$ROUNDS"); do
        # ABBA: neither target always runs first.
        if ((r % 2)); then order="direct devassist"; else order="devassist direct"; fi
        for t in $order; do
            oha_run $s $t "$DURATION" "$WORK/oha-$s-$t-$r.csv"
            python3 "$HERE/oha_summary.py" round "$WORK/oha-$s-$t-$r.csv" $s $t "$r" >&2
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

python3 "$HERE/oha_summary.py" report "$WORK" "$OUT" "$ROUNDS" "$RATE" "$CONNECTIONS" "$DURATION" "$REALTIME"
