#!/usr/bin/env bash
# Docs-search benchmark and retrieval evaluation, run by `make bench-search`:
# installs the corpus (Debian's python3.11-doc: the Python 3.11 documentation as HTML) if it
# is missing, builds an index of it, scores bench/search/questions.tsv as written and with
# typos (recall@5, MRR@10), measures query latency, and writes bench/results/search.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

CORPUS=${DEVASSIST_SEARCH_CORPUS:-/usr/share/doc/python3.11/html}
ROUNDS=${ROUNDS:-20}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

if [ ! -f "$CORPUS/library/json.html" ]; then
    echo "Installing the corpus: Debian package python3.11-doc" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3.11-doc >/dev/null
fi

cargo build --release -p devassist-search --example search_bench
mkdir -p "$TARGET/bench-search" bench/results
# Generated pages (indexes, search page, table of contents) and build assets are not docs.
nice -n -10 "$TARGET/release/examples/search_bench" \
    --corpus "$CORPUS" \
    --questions bench/search/questions.tsv \
    --index "$TARGET/bench-search/python-3.11.sqlite" \
    --report bench/results/search.md \
    --base-url https://docs.python.org/3.11 \
    --exclude '_*' --exclude 'genindex*' --exclude py-modindex.html \
    --exclude search.html --exclude contents.html \
    --rounds "$ROUNDS"
