#!/usr/bin/env bash
# `make bench-gpu-prepare`: everything the GPU benchmark needs that must be made here, where Rust
# and the registries are, into bench/gpu/.work/carry/ (ignored; ~35 MB), for device-run.sh to use
# on a GPU machine that has CUDA, CMake and Python but no Rust and no network:
#   devassist-engine   the engine, release, `dynamic-link` feature (llama.cpp as shared libraries), stripped
#   step_bench         crates/devassist-engine/examples/step_bench.rs, same build
#   llama-src.tar.gz   the llama.cpp tree llama-cpp-sys-2 vendors (the engine's exact version) plus
#                      tools/{server,ui,batched-bench} and scripts/ui-assets.cmake from
#                      llama-cpp-python 0.3.36's sdist (the crate ships none of them), patched
#                      (llama-server.patch) and with tools-CMakeLists.txt as tools/CMakeLists.txt
#   tok.gguf           Llama 3's tokenizer (the sdist's models/ggml-vocab-llama-bpe.gguf, vocab 128,256)
#   gguf-*.whl         the gguf package for gen_model.py
# Third-party downloads are cached in bench/gpu/.work/dl/. Usage:
#   bench/gpu/prepare.sh    (ENGINE_BIN=path takes that binary instead of building; ENGINE_BIN=skip: source only)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
W=bench/gpu/.work
DL=$W/dl
CARRY=$W/carry
LLAMA_CPP_PYTHON=0.3.36
GGUF=0.19.0
mkdir -p "$DL" "$CARRY"

# 1. The llama.cpp source: the crate's vendored tree, the exact version the engine was built with.
SYS_VERSION=$(awk '/^name = "llama-cpp-sys-2"$/ {getline; gsub(/version = |"/, ""); print}' Cargo.lock)
SYS_SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$SYS_VERSION"/llama.cpp 2>/dev/null | head -1)
if [ -z "$SYS_SRC" ]; then
    cargo fetch
    SYS_SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$SYS_VERSION"/llama.cpp | head -1)
fi
SDIST=$DL/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz
if [ ! -f "$SDIST" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$DL"
fi
GGUF_WHL=$DL/gguf-$GGUF-py3-none-any.whl
if [ ! -f "$GGUF_WHL" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: "gguf==$GGUF" -d "$DL"
fi
cp "$GGUF_WHL" "$CARRY/"

STAGE=$W/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -a "$SYS_SRC" "$STAGE/llama.cpp"
chmod -R u+w "$STAGE/llama.cpp"
SD=llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp
tar -xzf "$SDIST" -C "$STAGE" "$SD/tools/server" "$SD/tools/ui" "$SD/tools/batched-bench" \
    "$SD/scripts/ui-assets.cmake" "$SD/models/ggml-vocab-llama-bpe.gguf"
S=$STAGE/llama.cpp
for tool in server ui batched-bench; do
    rm -rf "${S:?}/tools/$tool"
    cp -a "$STAGE/$SD/tools/$tool" "$S/tools/$tool"
done
# The web UI is not built (LLAMA_BUILD_UI=OFF): only its CMake file and templates are needed.
find "$S/tools/ui" -mindepth 1 -maxdepth 1 ! -name CMakeLists.txt ! -name "*.in" -exec rm -rf {} +
rm -rf "$S/tools/server/tests" "$S/tools/server/bench"
mkdir -p "$S/scripts"
cp "$STAGE/$SD/scripts/ui-assets.cmake" "$S/scripts/"
cp bench/gpu/tools-CMakeLists.txt "$S/tools/CMakeLists.txt"
patch -s -d "$S" -p1 < bench/gpu/llama-server.patch
cp "$STAGE/$SD/models/ggml-vocab-llama-bpe.gguf" "$CARRY/tok.gguf"
tar -czf "$CARRY/llama-src.tar.gz" -C "$STAGE" llama.cpp
rm -rf "$STAGE"

# 2. The engine and step_bench, linked against shared llama.cpp libraries.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "${ENGINE_BIN:-}" = skip ]; then
    echo "engine: skipped"
elif [ -z "${ENGINE_BIN:-}" ]; then
    # llama-cpp-sys-2 0.1.161 leaves dangling lib*.so links in the target folder, and its build
    # script then fails ("File exists") the next time it runs there: drop them first.
    find "$TARGET/release" -maxdepth 2 -xtype l -name 'lib*.so*' -delete 2>/dev/null || true
    cargo build --release -p devassist-engine --features dynamic-link --bin devassist-engine --example step_bench
    ENGINE_BIN=$TARGET/release/devassist-engine
fi
if [ "${ENGINE_BIN:-}" != skip ]; then
    STEP_BIN=${STEP_BIN:-$(dirname "$ENGINE_BIN")/examples/step_bench}
    strip -o "$CARRY/devassist-engine" "$ENGINE_BIN"
    if [ -f "$STEP_BIN" ]; then strip -o "$CARRY/step_bench" "$STEP_BIN"; fi
    echo "engine: $(ldd "$ENGINE_BIN" | grep -cE 'libllama|libggml') llama.cpp libraries linked dynamically"
fi

du -sh "$CARRY"/* | sed 's/^/  /'
echo "total $(du -sh "$CARRY" | cut -f1) in $CARRY (carry it as bench/gpu/.work/carry)"
