#!/usr/bin/env bash
# The whole GPU benchmark in one command, for a machine with an NVIDIA GPU, nvcc, CMake, Python 3
# with numpy, and bench/gpu/.work/carry/ made by prepare.sh (no Rust, no network needed):
#   OUT=/some/dir bash bench/gpu/device-run.sh
# In order, printing figures as it goes (so a run cut short still shows them):
#   1. builds llama.cpp's shared libraries + llama-server + llama-batched-bench with CUDA from
#      llama-src.tar.gz (build-llama-libs.sh; ~260 s on 16 cores), meanwhile generates a
#      random-weight Llama-3-8B-shaped Q4_0 model (gen_model.py, Llama 3 tokenizer);
#   2. step_bench: one decode step over N sequences, consecutive vs spread slots, per-slot vs
#      unified KV, and sampling one sequence both ways;
#   3. llama-batched-bench at 1,2,4,8,16,32 sequences: llama.cpp's own batched-decode ceiling;
#   4. bench_gpu.py: the engine's configurations and llama-server, one after the other.
# Writes to $OUT (7 files): gpu.md (bench/results/gpu.md), results.json, run.log, build.log,
# step-bench.txt, batched-bench.txt, logs.tar.gz (every server's log).
# Settings (environment): LIMIT seconds for everything (540), MODE cuda|cpu (cpu: a dry run on
# any machine), JOBS (nproc), ARCH (90-real), MODEL_ARGS (gen_model.py shape flags), PARALLEL (32),
# CTX (4096), BATCH (512), GEN (128), LEVELS (1,4,8,32), CONFIGS (bench_gpu.py's), RUNS (2),
# AGG_RUNS (2), WORK (/tmp/devassist-gpu), REUSE_BUILD (1: keep WORK's build from an earlier run).
set -uo pipefail
START=$(date +%s)
LIMIT=${LIMIT:-540}
DEADLINE=$((START + LIMIT))
REPO=$(cd "$(dirname "$0")/../.." && pwd)
G=$REPO/bench/gpu
C=$G/.work/carry
W=${WORK:-/tmp/devassist-gpu}
OUT=${OUT:-$W/out}
MODE=${MODE:-cuda} JOBS=${JOBS:-$(nproc)} ARCH=${ARCH:-90-real} MODEL_ARGS=${MODEL_ARGS:-}
PARALLEL=${PARALLEL:-32} CTX=${CTX:-4096} BATCH=${BATCH:-512} GEN=${GEN:-128} LEVELS=${LEVELS:-1,4,8,32}
CONFIGS=${CONFIGS:-old,new,server,unified,no-packing,slow-sampl,all-cores} RUNS=${RUNS:-2} AGG_RUNS=${AGG_RUNS:-2}
export PYTHONUNBUFFERED=1
mkdir -p "$W" "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/run.log") 2>&1
ts() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - START ))s] $*"; }
left() { echo $(( DEADLINE - $(date +%s) )); }

ts "start: limit ${LIMIT}s, mode $MODE, $JOBS jobs; carried: $(ls "$C" 2>/dev/null | tr '\n' ' ')"
for f in devassist-engine llama-src.tar.gz tok.gguf; do
    [ -f "$C/$f" ] || { ts "missing $C/$f: run bench/gpu/prepare.sh where the repo is built"; exit 2; }
done
if [ "$MODE" = cuda ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv,noheader
    [ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH
fi
{ nvcc --version 2>/dev/null | tail -1; cmake --version | head -1; echo "ninja $(ninja --version 2>/dev/null)"
  echo "nproc $(nproc), $(free -g | awk '/Mem:/ {print $2}') GiB"; python3 -c 'import numpy; print("numpy", numpy.__version__)'; } 2>&1 | sed 's/^/  /'

# 1. Build (background) and model (meanwhile). REUSE_BUILD=1 keeps an earlier run's good build.
if [ "${REUSE_BUILD:-0}" = 1 ] && [ "$(cat "$W/build.rc" 2>/dev/null)" = 0 ]; then
    ( exit 0 ) &
else
    rm -rf "$W/src" "$W/build" "$W/build.rc"
    mkdir -p "$W/src"
    tar -xzf "$C/llama-src.tar.gz" -C "$W/src"
    ( bash "$G/build-llama-libs.sh" "$W/src/llama.cpp" "$W/build" "$MODE" "$JOBS" "$ARCH" > "$W/build.log" 2>&1
      echo $? > "$W/build.rc" ) &
fi
BUILD_PID=$!
ts "build started"
if [ ! -f "$W/model.gguf" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$W/site" "$C"/gguf-*.whl 2>&1 | grep -v WARNING
    # shellcheck disable=SC2086
    PYTHONPATH="$W/site${PYTHONPATH:+:$PYTHONPATH}" nice -n 5 python3 "$G/gen_model.py" --tok "$C/tok.gguf" --out "$W/model.tmp.gguf" $MODEL_ARGS \
        && mv "$W/model.tmp.gguf" "$W/model.gguf"
fi
ts "model: $(ls -la "$W/model.gguf" 2>&1)"
while kill -0 $BUILD_PID 2>/dev/null; do
    if [ "$(left)" -lt 60 ]; then ts "build: not done in time"; kill $BUILD_PID; break; fi
    sleep 15
    ts "build: $(grep -o '^\[[0-9]*/[0-9]*\]' "$W/build.log" | tail -1)"
done
wait $BUILD_PID 2>/dev/null
tail -c 2000000 "$W/build.log" > "$OUT/build.log"
if [ "$(cat "$W/build.rc" 2>/dev/null)" != 0 ] || [ ! -f "$W/model.gguf" ]; then
    ts "build or model FAILED; last build lines:"; tail -30 "$W/build.log"; exit 1
fi
B=$W/build/bin
ts "build: OK; $(grep BUILD_TIMES "$W/build.log")"
cp "$C/devassist-engine" "$B/"
[ -f "$C/step_bench" ] && cp "$C/step_bench" "$B/"
echo "  engine links: $(ldd "$B/devassist-engine" | grep -E 'llama|ggml|not found' | awk '{print $1 " -> " $3}' | tr '\n' ' ')"

# 2. One decode step, straight on llama.cpp.
if [ -x "$B/step_bench" ]; then
    ts "step_bench"
    LD_LIBRARY_PATH=$B timeout $(( $(left) > 150 ? 90 : 20 )) "$B/step_bench" "$W/model.gguf" --threads 4 --seqs 1,4,8,32 --prefill 128 \
        --steps 16 --ctx 1024 2>&1 | grep -v '^\s*$' | tee "$OUT/step-bench.txt"
fi

# 3. llama.cpp's own batched decode.
ts "llama-batched-bench"
LD_LIBRARY_PATH=$B timeout $(( $(left) > 150 ? 100 : 20 )) "$B/llama-batched-bench" -m "$W/model.gguf" -c 16384 -b 512 -ub 512 \
    -npp 128 -ntg 128 -npl 1,2,4,8,16,32 -ngl 99 -fa on > "$W/bb.log" 2>&1
grep -E '^(\||llama_batched_bench)' "$W/bb.log" | tee "$OUT/batched-bench.txt"

# 4. The engine's configurations and llama-server.
GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
SHAPE=${MODEL_ARGS:-"defaults (32 layers, 4096 wide, FFN 14336, 32/8 heads: the shape of Llama 3 8B)"}
{
    echo "- Machine: ${GPU:-no GPU, a $MODE dry run}; $(nproc) cores; CUDA $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*'); $(date -u +%Y-%m-%d)."
    echo "- llama.cpp: the tree llama-cpp-sys-2 vendors, shared libraries built here ($MODE, arch $ARCH, $JOBS jobs: $(grep -o 'build=[0-9]*s' "$W/build.log")); llama-server and llama-batched-bench from llama-cpp-python 0.3.36's tree."
    echo "- Model: random weights, Q4_0, Llama 3 tokenizer (vocab 128,256); gen_model.py $SHAPE, $(du -h "$W/model.gguf" | cut -f1)."
} > "$W/meta.md"
ts "bench_gpu.py: $CONFIGS at $LEVELS concurrent"
python3 "$G/bench_gpu.py" --engine-bin "$B/devassist-engine" --llama-server "$B/llama-server" --libdir "$B" \
    --model "$W/model.gguf" --parallel "$PARALLEL" --ctx "$CTX" --batch "$BATCH" --flash-attn on \
    --configs "$CONFIGS" --levels "$LEVELS" --runs "$RUNS" --agg-runs "$AGG_RUNS" --gen-tokens "$GEN" \
    --deadline $(( DEADLINE - 10 )) --out-dir "$W/bench" --batched-bench "$OUT/batched-bench.txt" \
    --step-bench "$OUT/step-bench.txt" --meta "$W/meta.md" 2>&1
cp "$W/bench/gpu.md" "$W/bench/results.json" "$OUT/" 2>/dev/null
(cd "$W/bench" && tar -czf "$OUT/logs.tar.gz" ./*.log)
ts "done; $OUT: $(ls "$OUT" | tr '\n' ' ')"
