#!/usr/bin/env bash
# Build llama.cpp's shared libraries (libllama, libllama-common, libggml*, libmtmd) plus
# llama-server and llama-batched-bench from the tree prepare.sh packs (llama-src.tar.gz, the
# version the engine links against), for the engine's `dynamic-link` build to run on:
#   build-llama-libs.sh SRC BUILD cuda|cpu [JOBS] [CUDA_ARCH]
# Everything lands in BUILD/bin, libraries with an rpath of $ORIGIN so they find each other
# wherever that folder goes. CUDA_ARCH defaults to 90-real (H100/H200); only the targets the
# benchmark needs are built, flash-attention kernels only for the f16 KV cache, no NCCL, no
# fatbin compression: ~260 s with 16 jobs on an H200 machine.
set -euo pipefail
SRC=$1 B=$2 MODE=$3 J=${4:-$(nproc)} ARCH=${5:-90-real}
opts=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=ON
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
      -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
      -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON '-DCMAKE_INSTALL_RPATH=$ORIGIN')
if command -v ninja >/dev/null; then opts+=(-G Ninja); fi
case $MODE in
  cuda) if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
          export PATH=/usr/local/cuda/bin:$PATH
        fi
        opts+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" -DGGML_CUDA_FA=ON
               -DGGML_CUDA_FA_QUANTS=f16-f16 -DGGML_CUDA_COMPRESSION_MODE=none
               -DGGML_CUDA_NCCL=OFF "-DCMAKE_CUDA_COMPILER=$(command -v nvcc)") ;;
  cpu)  opts+=(-DGGML_CUDA=OFF) ;;
  *) echo "mode must be cuda or cpu" >&2; exit 2 ;;
esac
t0=$(date +%s)
mkdir -p "$B"
cmake -S "$SRC" -B "$B" "${opts[@]}" > "$B/configure.log" 2>&1 || { tail -40 "$B/configure.log"; exit 1; }
grep -E 'CUDA|ARCHITECTURES|OpenMP' "$B/configure.log" | head -12 || true
t1=$(date +%s)
cmake --build "$B" -j "$J" --target llama-batched-bench llama-server
t2=$(date +%s)
echo "BUILD_TIMES configure=$((t1 - t0))s build=$((t2 - t1))s total=$((t2 - t0))s mode=$MODE jobs=$J"
ls -la "$B/bin"
