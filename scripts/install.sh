#!/usr/bin/env bash
# Create .venv and install the project (CPU stack) under constraints.txt, the package set CI last passed with.
# torch goes first and pinned: unpinned it pulls a CUDA build. CLARA_CONSTRAINTS=none installs unpinned (to refresh).
# Skipped when .venv/.clara-install-stamp holds the hash of what the last install used (pyproject.toml, the
# constraints, the extra, the torch pin); CLARA_FORCE_INSTALL=1 installs anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CONSTRAINTS=${CLARA_CONSTRAINTS:-constraints.txt}
EXTRA=${1:-test}
TORCH=${CLARA_TORCH_VERSION:-2.13.0}
STAMP=.venv/.clara-install-stamp
want=$( { cat pyproject.toml; [ "$CONSTRAINTS" = none ] || cat "$CONSTRAINTS"; echo "extra=$EXTRA torch=$TORCH constraints=$CONSTRAINTS"; } | sha256sum | cut -d' ' -f1)
if [ "${CLARA_FORCE_INSTALL:-0}" != 1 ] && [ "$CONSTRAINTS" != none ] && [ -x .venv/bin/python ] \
   && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "install: .venv is current (pyproject.toml and $CONSTRAINTS unchanged); skipping (CLARA_FORCE_INSTALL=1 reinstalls)"
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
rm -f "$STAMP"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==$TORCH"
if [ "$CONSTRAINTS" = none ]; then
  .venv/bin/python -m pip install -q -e ".[$EXTRA]"
else
  .venv/bin/python -m pip install -q -c "$CONSTRAINTS" -e ".[$EXTRA]"
  echo "$want" > "$STAMP"  # an unpinned install (CONSTRAINTS=none) is never "current"
fi
