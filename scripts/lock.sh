#!/usr/bin/env bash
# Re-resolve the project's dependencies from pyproject.toml in a scratch venv and write constraints.txt.
# Run the tests (./scripts/test.sh) on the new set before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"${PYTHON:-python3}" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install -q --upgrade pip
"$scratch/venv/bin/python" -m pip install -q "torch==${CLARA_TORCH_VERSION:-2.13.0}"
"$scratch/venv/bin/python" -m pip install -q ".[test]"
{
  echo "# The exact package set .ci/run and the README's two commands were last tested with (Linux, CPython 3.11)."
  echo "# scripts/install.sh installs under it; refresh with ./scripts/lock.sh after changing pyproject.toml."
  echo "# torch is pinned by scripts/install.sh itself (a CPU build)."
  "$scratch/venv/bin/python" -m pip freeze | grep -viE '^(torch|clara-ray)(==| @)'
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
