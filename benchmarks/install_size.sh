#!/usr/bin/env bash
# The coder's install (`pip install .`) and the full one (`pip install '.[test]'`), each in a
# fresh venv: wall time (downloads included, no pip cache) and the venv's size (du -sh).
# Usage: benchmarks/install_size.sh [SCRATCH_DIR]   (default: a new folder under /tmp)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${1:-$(mktemp -d)}"
mkdir -p "$scratch/src"
git -C "$repo" archive --format=tar HEAD | tar -x -C "$scratch/src"
for kind in coder full; do
    venv="$scratch/venv-$kind"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    target="$scratch/src"
    [ "$kind" = full ] && target="$scratch/src[test]"
    start=$(date +%s)
    "$venv/bin/pip" install -q --no-cache-dir "$target" >/dev/null
    echo "$kind: $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
done
