#!/bin/sh
# Installs LiteLLM's proxy (and matplotlib, for the plot) into the benchmark's own
# virtualenv, pinned to one known version. Does nothing when that version is already there.
# Never 1.107.0: that release was compromised.
set -eu
venv=${1:-bench/.venv-litellm}
version=${2:-1.74.9}
matplotlib=${3:-3.11.2}
if [ "$version" = "1.107.0" ]; then
    echo "setup-litellm: refusing LiteLLM 1.107.0 (compromised release)" >&2
    exit 1
fi
if [ -x "$venv/bin/litellm" ] &&
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$version')" 2>/dev/null &&
    "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    exit 0
fi
echo "setup-litellm: installing litellm[proxy]==$version into $venv (a few minutes)" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$version" "matplotlib==$matplotlib"
