#!/usr/bin/env bash
# Create .venv and install the project (CPU stack) under constraints.txt, the package set CI last passed with.
# torch goes first and pinned: unpinned it pulls a CUDA build. CLARA_CONSTRAINTS=none installs unpinned (to refresh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CONSTRAINTS=${CLARA_CONSTRAINTS:-constraints.txt}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${CLARA_TORCH_VERSION:-2.13.0}"
if [ "$CONSTRAINTS" = none ]; then
  .venv/bin/python -m pip install -q -e ".[${1:-test}]"
else
  .venv/bin/python -m pip install -q -c "$CONSTRAINTS" -e ".[${1:-test}]"
fi
