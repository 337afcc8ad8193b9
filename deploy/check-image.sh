#!/usr/bin/env bash
# Builds the container image here and proves it serves, without a registry and without running
# a container (`make check-deploy`):
#   1. the base image: Debian bookworm (minbase) from the Debian mirror apt uses, by mmdebstrap,
#      `podman import`ed as localhost/devassist-base:bookworm (kept for the next run);
#   2. `podman build --isolation=chroot` of deploy/container/Containerfile with BINARY_FROM=
#      prebuilt (a devassist binary built on this bookworm host, as Rust is not in that base)
#      and the default model baked in (MODEL=...);
#   3. the image's filesystem exported (podman create + export) and its entrypoint run in it
#      with chroot, in its own mount and PID namespaces, as the image's user with the image's
#      environment: it must answer its healthcheck command, /api/tags with the baked model, and
#      a chat on that model, and exit 0 on SIGTERM.
#   deploy/check-image.sh [DEVASSIST_BINARY]
# Defaults: $DEVASSIST_BIN, else a debug build (the one `make test` makes). MODEL_FILE: the default model
# (scripts/setup.sh fetches it). Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=localhost/devassist-base:bookworm
IMAGE=localhost/devassist:check
BIN=${1:-${DEVASSIST_BIN:-}}
models=${DEVASSIST_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/devassist/models}
MODEL_FILE=${MODEL_FILE:-$models/SmolLM2-135M-Instruct.Q4_1.gguf}
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
T=$(mktemp -d /var/tmp/devassist-check-image.XXXXXX)
CONTAINER=""
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    [ -n "$CONTAINER" ] && podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "check-image: FAILED: $*" >&2; [ -f "$T/server.log" ] && tail -30 "$T/server.log" >&2; exit 1; }
t0=$(date +%s)
step() { echo "check-image: [$(( $(date +%s) - t0 ))s] $*"; }

if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
    step "installing podman and mmdebstrap (Debian packages)"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq podman mmdebstrap >/dev/null
fi
for tool in podman mmdebstrap unshare chroot curl; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done
[ -f "$MODEL_FILE" ] || fail "no model at $MODEL_FILE (run scripts/setup.sh)"
if [ -z "$BIN" ]; then
    step "building devassist"
    cargo build -p devassist
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/devassist
fi
[ -x "$BIN" ] || fail "no devassist binary at $BIN"

if podman image exists "$BASE"; then
    step "base image $BASE is there"
else
    step "base image: mmdebstrap bookworm (minbase) from $MIRROR"
    mmdebstrap --quiet --variant=minbase --mode=root bookworm "$T/base.tar" "$MIRROR"
    podman import --quiet "$T/base.tar" "$BASE" >/dev/null
    rm -f "$T/base.tar"
fi

step "podman build --isolation=chroot (prebuilt binary, model baked in)"
ctx=$T/context
mkdir -p "$ctx/deploy/container" "$ctx/dist" "$ctx/models"
cp deploy/container/Containerfile deploy/container/devassist.toml "$ctx/deploy/container/"
cp "$BIN" "$ctx/dist/devassist"
strip "$ctx/dist/devassist" 2>/dev/null || true
model=$(basename "$MODEL_FILE")
cp "$MODEL_FILE" "$ctx/models/$model"
tb=$(date +%s)
podman build --quiet --isolation=chroot --format docker -f "$ctx/deploy/container/Containerfile" \
    --build-arg BASE_IMAGE="$BASE" --build-arg BINARY_FROM=prebuilt \
    --build-arg MODEL="models/$model" -t "$IMAGE" "$ctx" >/dev/null
step "built in $(( $(date +%s) - tb ))s, $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec)"

step "image metadata"
inspect() { podman image inspect --format "$1" "$IMAGE"; }
[ "$(inspect '{{.Config.User}}')" = "10001:10001" ] || fail "the image does not run as 10001:10001"
inspect '{{json .Config.Volumes}}' | grep -q '"/data"' || fail "no /data volume"
inspect '{{json .Config.Healthcheck}}' | grep -q 'monitoring/healthz' || fail "no healthcheck"
inspect '{{json .Config.Env}}' | grep -q 'DEVASSIST_MODELS=/opt/devassist/models' || fail "the baked model dir is not configured"

step "exporting the image's filesystem"
rootfs=$T/rootfs
mkdir -p "$rootfs"
CONTAINER=$(podman create "$IMAGE")
podman export "$CONTAINER" | tar -x -C "$rootfs"
[ -f "$rootfs/opt/devassist/models/$model" ] || fail "the model is not baked in"

# The container, as a runtime would start it: the image's environment, user, working
# directory and entrypoint + command; `--listen` so the check never collides with a port here.
mapfile -t env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t entry < <(inspect '{{range .Config.Entrypoint}}{{println .}}{{end}}{{range .Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d')
workdir=$(inspect '{{.Config.WorkingDir}}')
cat > "$T/enter.sh" <<'INNER'
#!/bin/sh
# In new mount and PID namespaces: /proc for this PID namespace, /dev from the host, a tmpfs
# /tmp; then the image's root, user and working directory.
set -e
root=$1; user=$2; dir=$3; shift 3
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$dir" "$@"
INNER
chmod +x "$T/enter.sh"

step "running the entrypoint in the image's root (chroot)"
unshare --mount --pid --fork --kill-child "$T/enter.sh" "$rootfs" 10001:10001 "$workdir" \
    /usr/bin/env -i "${env[@]}" "${entry[@]}" --listen 127.0.0.1:0 \
    > "$T/server.out" 2> "$T/server.log" &
SERVER=$!
url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/^devassist listening on //p' "$T/server.out" | head -1)
    [ -n "$url" ] && break
    kill -0 "$SERVER" 2>/dev/null || fail "devassist exited before listening"
    sleep 0.1
done
[ -n "$url" ] || fail "devassist did not listen within 30 s"
step "listening on $url"

# The image's own healthcheck command, run inside the image.
hc=$(inspect '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' | sed '/^$/d' | tail -n +2 \
    | sed "s|http://127.0.0.1:11434|$url|")
mapfile -t hc <<< "$hc"
chroot --userspec=10001:10001 "$rootfs" "${hc[@]}" || fail "the healthcheck command failed"
step "healthcheck ok"

tags=$(curl -fsS --max-time 10 "$url/api/tags") || fail "/api/tags did not answer"
name=$(printf '%s' "$tags" | python3 -c 'import json, sys
models = json.load(sys.stdin)["models"]
print(models[0]["name"] if len(models) == 1 else "")')
[ -n "$name" ] || fail "/api/tags does not list exactly the baked model: $tags"
# `mock` is what devassist offers when it finds no model (or has no engine).
[ "$name" != mock ] || fail "the baked model is not served (no engine in the binary, or not found): $tags"
step "/api/tags lists $name"

tc=$(date +%s)
body=$(printf '{"model": "%s", "stream": false, "options": {"num_predict": 16, "temperature": 0}, "messages": [{"role": "user", "content": "Say hello."}]}' "$name")
answer=$(curl -fsS --max-time 300 "$url/api/chat" -d "$body") || fail "/api/chat failed: $answer"
content=$(printf '%s' "$answer" | python3 -c 'import json, sys; print(json.load(sys.stdin)["message"]["content"].strip())')
[ -n "$content" ] || fail "empty chat answer: $answer"
step "chat answered in $(( $(date +%s) - tc ))s (model load included): ${content:0:60}"

# SIGTERM to the namespace's PID 1 (tini, the image's entrypoint), as a runtime stops a container.
init=$(pgrep -P "$SERVER" | head -1)
[ -n "$init" ] || fail "cannot find the container's PID 1"
kill -TERM "$init"
rc=0
wait "$SERVER" || rc=$?
SERVER=""
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
step "stopped cleanly on SIGTERM; image check passed"
