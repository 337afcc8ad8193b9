#!/usr/bin/env bash
# Sets up everything devassist's run and test commands need, on a fresh Debian machine with
# Rust: build tools for llama.cpp (cmake, clang, libclang), the default model, Debian packages
# the tests use (Python's docs, tinyproxy, redis-server), and a Python virtualenv with the official client
# libraries used by the tests. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build tools and the default model (SmolLM2-135M-Instruct) into the models directory.
scripts/fetch-default-model.sh "${DEVASSIST_MODELS:-}"

# Debian packages the tests need: the documentation corpus the docs-search quality test runs
# on (Python's docs), a real forward proxy for the upstream proxy tests (tinyproxy), and a
# real Redis for the shared limit store's tests (redis-server). The tests start their own
# proxy and Redis; the packages' services are not used.
missing=""
for pkg in python3.11-doc tinyproxy redis-server; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    $sudo apt-get install -y -qq $missing >/dev/null
    # Where systemd runs, the package starts a proxy on port 8888 that nothing here uses.
    # Likewise Redis on port 6379.
    if command -v systemctl >/dev/null 2>&1; then
        for service in tinyproxy redis-server; do
            if [[ " $missing " == *" $service "* ]]; then
                $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
            fi
        done
    fi
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
