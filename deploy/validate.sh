#!/usr/bin/env bash
# The cheap, offline checks of everything under deploy/ (seconds; part of `make test`):
#   - hadolint on both Containerfiles;
#   - the kustomizations rendered (kubectl kustomize) and every object validated with Cloud
#     Run's service.yaml (validate_manifests.py: Kubernetes schemas, KEDA and Knative CRDs);
#   - systemd-analyze verify and security on the unit;
#   - `devassist config check` on every devassist.toml shipped here, with the environment the
#     manifests give it (when DEVASSIST_BIN names a binary).
# Each check first proves it can fail: a broken copy must be rejected.
#   deploy/validate.sh            (DEVASSIST_BIN=target/debug/devassist to check the configs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
HADOLINT=${HADOLINT:-.venv/bin/hadolint}
BIN=${DEVASSIST_BIN:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "deploy/validate.sh: $*" >&2; exit 1; }
must_fail() { if "$@" >"$T/out" 2>&1; then cat "$T/out"; fail "a broken copy passed: $*"; fi; }
for tool in "$PY" "$HADOLINT" kubectl systemd-analyze; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup.sh installs the Python tools)"
done

echo "== hadolint"
"$HADOLINT" deploy/container/Containerfile deploy/container/Containerfile.cuda
printf 'FROM debian\nRUN cd /tmp && apt-get install curl\n' > "$T/Containerfile"
must_fail "$HADOLINT" "$T/Containerfile"
echo "ok"

echo "== kubernetes (kustomize render + schemas), cloud run"
rendered=()
for k in base overlays/vllm overlays/engine; do
    out="$T/$(echo "$k" | tr / -).yaml"
    kubectl kustomize "deploy/kubernetes/$k" > "$out"
    rendered+=("$out")
done
"$PY" deploy/validate_manifests.py "${rendered[@]}" deploy/cloudrun/service.yaml
sed 's/  minReplicaCount: 0/  minReplicas: 0/' "$T/overlays-vllm.yaml" > "$T/bad-keda.yaml"
must_fail "$PY" deploy/validate_manifests.py "$T/bad-keda.yaml"
sed 's/  revisionHistoryLimit: 5/  revisionHistoryLimt: 5/' "$T/overlays-vllm.yaml" > "$T/bad-k8s.yaml"
must_fail "$PY" deploy/validate_manifests.py "$T/bad-k8s.yaml"
sed 's/cpu-throttling: "false"/cpu-throttling: "true"/' deploy/cloudrun/service.yaml > "$T/bad-run.yaml"
must_fail "$PY" deploy/validate_manifests.py "$T/bad-run.yaml"
grep -q 'url: http://devassist.devassist.svc.cluster.local:11434/status/queue' "$T/overlays-vllm.yaml" \
    || fail "the ScaledObject's metrics URL does not name the gateway's namespace"

echo "== systemd"
# verify needs ExecStart to exist: point it at a stand-in. It prints problems but exits 0
# for most of them, so any output is a failure.
printf '#!/bin/sh\n' > "$T/devassist" && chmod 755 "$T/devassist"
sed "s|/usr/local/bin/devassist|$T/devassist|g" deploy/systemd/devassist.service > "$T/devassist.service"
verify() { out=$(systemd-analyze verify "$1" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }
verify "$T/devassist.service"
# Exposure 0 (locked down) .. 10 (unprotected); the unit scores about 1.5.
systemd-analyze security --offline=yes --threshold=20 "$T/devassist.service" | tail -1
sed 's/^NoNewPrivileges=yes/NoNewPrivilegs=yes/' "$T/devassist.service" > "$T/bad.service"
must_fail verify "$T/bad.service"
echo "ok"

if [ -n "$BIN" ]; then
    echo "== devassist config check"
    [ -x "$BIN" ] || fail "DEVASSIST_BIN=$BIN is not an executable"
    for f in deploy/container/devassist.toml deploy/kubernetes/base/devassist.toml \
             deploy/kubernetes/overlays/*/devassist.toml; do
        BACKEND_API_KEY=x "$BIN" config check "$f"
    done
    # Cloud Run configures the image's file through the environment.
    "$PY" - deploy/cloudrun/service.yaml > "$T/run.env" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for e in d["spec"]["template"]["spec"]["containers"][0].get("env", []):
    print(f"{e['name']}={e['value']}")
PY
    mapfile -t run_env < "$T/run.env"
    [ "${#run_env[@]}" -gt 0 ] || fail "no environment found in deploy/cloudrun/service.yaml"
    printf 'Cloud Run environment: %s\n' "${run_env[*]}"
    env "${run_env[@]}" "$BIN" config check deploy/container/devassist.toml
    must_fail env DEVASSIST_ENGINE__IDLE_TIMEOUT=sometimes "$BIN" config check deploy/container/devassist.toml
    # The configuration examples in docs/deploy.md.
    "$PY" - "$T" <<'PY'
import pathlib, sys
blocks = pathlib.Path("docs/deploy.md").read_text().split("```toml")[1:]
for i, b in enumerate(blocks):
    pathlib.Path(sys.argv[1], f"deploy-md-{i}.toml").write_text(b.split("```")[0])
PY
    for f in "$T"/deploy-md-*.toml; do
        echo "docs/deploy.md, TOML example $(basename "$f" .toml | sed 's/deploy-md-//'):"
        "$BIN" config check "$f"
    done
fi
echo "deploy/validate.sh: all checks passed"
