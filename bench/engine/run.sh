#!/usr/bin/env bash
# `make bench-engine`: devassist engine vs llama-cpp-python's server on the default model.
# Builds the engine (release), installs llama-cpp-python[server] into bench/engine/.venv the
# first time (it compiles llama.cpp: 5-10 minutes), then runs bench_engine.py, which writes
# bench/results/engine.md (and engine.raw with the raw figures).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${ENGINE_BENCH_VENV:-bench/engine/.venv}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
THREADS="${BENCH_THREADS:-$(nproc)}"

scripts/fetch-default-model.sh
MODELS="${DEVASSIST_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/devassist/models}"
MODEL="${BENCH_MODEL:-$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf}"

cargo build --release -p devassist-engine

if ! "$VENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    python3 -m venv "$VENV"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/pip" install --quiet 'llama-cpp-python[server]'
fi

exec nice -n -10 "$VENV/bin/python" bench/engine/bench_engine.py \
    --engine-bin "$TARGET/release/devassist-engine" \
    --python "$VENV/bin/python" \
    --model "$MODEL" \
    --threads "$THREADS" \
    --out bench/results/engine.md "$@"
