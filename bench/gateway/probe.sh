#!/usr/bin/env bash
# Gateway cost per request and memory per held stream, in units that other work on the
# machine distorts less than latency: CPU time and context switches the gateway spends per
# request (at a fixed rate, for a fixed number of requests), and its RSS while 1,000 streams
# are held. Wall-clock latency and the highest rate need a quiet machine (`make
# bench-gateway`); these can compare two builds on a shared box, run back to back (CPU per
# request still moves with other load, in either direction: compare medians of several runs).
#
#   bench/gateway/probe.sh rate    [--rps 1000] [--duration 10] [--repeat 3]
#   bench/gateway/probe.sh streams [--concurrency 1000] [--repeat 1]
#       [--bin DIR]  where devassist and bench-gateway are (default: $CARGO_TARGET_DIR/release
#                    or target/release; build them with
#                    cargo build --release -p devassist -p devassist-bench-gateway --no-default-features)
#
# Both modes start bench-gateway's mock upstream and a release devassist configured as
# `bench-gateway run` configures it (one `openai` backend on the mock, log level warn, usage
# records on); extra TOML for devassist's config can be given in $PROBE_EXTRA_TOML (appended,
# so new tables only: [log] and [server] are already there), and the environment reaches
# devassist (TOKIO_WORKER_THREADS=1, _RJEM_MALLOC_CONF).
#
# rate: after a 3 s warm-up at the same rate, `bench-gateway rate` sends --rps for
#   --duration seconds (plus its own 1 s warm-up, counted too) over 32 keep-alive
#   connections. Printed per run: gateway CPU µs per request (utime + stime from
#   /proc/PID/stat), voluntary and involuntary context switches per request (summed over
#   /proc/PID/task/*/status, before and after), RSS, and the load generator's error count.
# streams: `bench-gateway streams` holds --concurrency streams (the mock's 64 chunks 20 ms
#   apart, so each stream lasts ~1.3 s and is replaced at once) for 62 s; printed: VmRSS 8,
#   30 and 60 s after the streams started, VmHWM at the end, and the gateway's CPU µs and
#   context switches (voluntary + involuntary) per stream over the run.
# With --repeat N, each run starts fresh processes and the last line is the median per column.
set -euo pipefail

MODE=${1:-}
[[ $MODE == rate || $MODE == streams ]] || {
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
shift
RPS=1000 DURATION=10 REPEAT="" CONCURRENCY=1000
BIN=${CARGO_TARGET_DIR:-target}/release
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rps) RPS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        *) echo "probe: unknown argument $1" >&2; exit 2 ;;
    esac
done
REPEAT=${REPEAT:-$([[ $MODE == rate ]] && echo 3 || echo 1)}
DEVASSIST=$BIN/devassist BENCH=$BIN/bench-gateway
for b in "$DEVASSIST" "$BENCH"; do
    [[ -x $b ]] || { echo "probe: $b not found (see --bin)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/probe.XXXXXX)
PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

# Starts `cmd...` with stdout to $WORK/$name.out, waits for a line starting with `prefix`,
# and prints the rest of it (the address).
start() {
    local name=$1 prefix=$2; shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    LAST_PID=$!
    for _ in $(seq 300); do
        local line
        line=$(grep -m1 "^$prefix" "$WORK/$name.out" 2>/dev/null || true)
        if [[ -n $line ]]; then
            ADDR=${line#"$prefix"}
            return 0
        fi
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "probe: $name did not start; its stderr:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

start_gateway() {
    rm -rf "$WORK/data"
    start mock "mock listening on " "$BENCH" mock --listen 127.0.0.1:0 --chunks 64 --interval 20ms
    local upstream=$ADDR
    cat >"$WORK/devassist.toml" <<EOF
[log]
level = "warn"

[server]
data_dir = "$WORK/data"

[[backends]]
name = "mock"
kind = "openai"
url = "$upstream/v1"

[[models]]
name = "bench"
backend = "mock"
${PROBE_EXTRA_TOML:-}
EOF
    start devassist "devassist listening on " env -u RUST_LOG "$DEVASSIST" serve \
        --config "$WORK/devassist.toml" --listen 127.0.0.1:0
    GATEWAY=$ADDR GPID=$LAST_PID
}

# utime + stime of the whole process in clock ticks (dead threads included).
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Context switches summed over the live threads: "voluntary involuntary".
switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 }
             END { print v + 0, n + 0 }'
}
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

HZ=$(getconf CLK_TCK)

rate_once() {
    start_gateway
    "$BENCH" rate --url "$GATEWAY" --rps "$RPS" --duration 3s >/dev/null
    local t0 s0 t1 s1
    t0=$(ticks "$GPID") s0=$(switches "$GPID")
    "$BENCH" rate --url "$GATEWAY" --rps "$RPS" --duration "${DURATION}s" >"$WORK/rate.json"
    t1=$(ticks "$GPID") s1=$(switches "$GPID")
    local errors sent
    errors=$(jq '.errors | add' "$WORK/rate.json")
    if [[ $errors != 0 ]]; then
        echo "probe: errors $(jq -c .errors "$WORK/rate.json"); gateway log:" >&2
        tail -5 "$WORK/devassist.err" >&2
    fi
    sent=$(jq '.sent' "$WORK/rate.json")
    # `sent` counts the measured requests; the 1 s warm-up inside `rate` sent rps more.
    awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$sent" -v rps="$RPS" -v e="$errors" \
        -v s0="$s0" -v s1="$s1" -v rss="$(kib "$GPID" VmRSS)" -v hwm="$(kib "$GPID" VmHWM)" '
        BEGIN {
            split(s0, a, " "); split(s1, b, " "); total = n + rps
            printf "%10.1f %8.2f %8.2f %9.1f %9.1f %7d %6d\n", t / hz * 1e6 / total,
                (b[1] - a[1]) / total, (b[2] - a[2]) / total, rss / 1024, hwm / 1024, total, e
        }'
    stop_all
}

streams_once() {
    start_gateway
    local t0 s0
    t0=$(ticks "$GPID") s0=$(switches "$GPID")
    "$BENCH" streams --url "$GATEWAY" --concurrency "$CONCURRENCY" --duration 61s \
        >"$WORK/streams.json" &
    local load=$! began=$SECONDS at8="" at30="" at60=""
    PIDS+=("$load")
    while kill -0 "$load" 2>/dev/null; do
        local t=$((SECONDS - began))
        [[ -z $at8 && $t -ge 8 ]] && at8=$(kib "$GPID" VmRSS)
        [[ -z $at30 && $t -ge 30 ]] && at30=$(kib "$GPID" VmRSS)
        [[ -z $at60 && $t -ge 60 ]] && at60=$(kib "$GPID" VmRSS)
        sleep 0.2
    done
    local t1 s1 failed ok
    t1=$(ticks "$GPID") s1=$(switches "$GPID")
    failed=$(jq '.streams_failed' "$WORK/streams.json" 2>/dev/null || echo 0)
    ok=$(jq '.streams_ok' "$WORK/streams.json" 2>/dev/null || echo 0)
    # Per stream: every stream opened in the run, counted or not (the ramp's are not).
    awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$((ok + failed + CONCURRENCY))" -v s0="$s0" \
        -v s1="$s1" -v a="${at8:-0}" -v b="${at30:-0}" -v c="${at60:-0}" \
        -v h="$(kib "$GPID" VmHWM)" -v f="$failed" '
        BEGIN {
            split(s0, x, " "); split(s1, y, " ")
            printf "%9.1f %9.1f %9.1f %9.1f %8d %11.1f %8.2f\n", a / 1024, b / 1024, c / 1024,
                h / 1024, f, t / hz * 1e6 / n, (y[1] - x[1] + y[2] - x[2]) / n
        }'
    stop_all
}

median() {
    # Column-wise median of the numeric lines in $WORK/runs.
    awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; n = NR; nf = NF }
        END {
            for (i = 1; i <= nf; i++) {
                for (j = 1; j <= n; j++) c[j] = v[i, j]
                for (j = 1; j <= n; j++) for (k = j + 1; k <= n; k++)
                    if (c[k] + 0 < c[j] + 0) { x = c[j]; c[j] = c[k]; c[k] = x }
                m[i] = n % 2 ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2
            }
            for (i = 1; i <= nf; i++) printf "%s%s", m[i], i < nf ? "\t" : "\n"
        }' "$WORK/runs"
}

: >"$WORK/runs"
if [[ $MODE == rate ]]; then
    echo "probe rate: $RPS RPS for ${DURATION}s (+1 s), $REPEAT run(s)"
    printf "%10s %8s %8s %9s %9s %7s %6s\n" "cpu_us/req" "vol/req" "invol/req" "rss_MiB" \
        "hwm_MiB" "reqs" "errors"
    for _ in $(seq "$REPEAT"); do rate_once | tee -a "$WORK/runs"; done
else
    echo "probe streams: $CONCURRENCY streams held 61 s, $REPEAT run(s)"
    printf "%9s %9s %9s %9s %8s %11s %8s\n" "rss_8s" "rss_30s" "rss_60s" "hwm_MiB" "failed" \
        "cpu_us/strm" "csw/strm"
    for _ in $(seq "$REPEAT"); do streams_once | tee -a "$WORK/runs"; done
fi
if [[ $REPEAT -gt 1 ]]; then
    printf "median:\t"
    median
fi
