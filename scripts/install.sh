#!/usr/bin/env bash
# Create .venv and install the project (CPU stack). torch goes first and pinned: unpinned it pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${CLARA_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[${1:-test}]"
