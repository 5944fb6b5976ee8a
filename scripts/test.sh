#!/usr/bin/env bash
# Install (idempotent) and run the whole test suite: unit tests, then the Ray tests (local cluster, timeouts).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_AUTH_MODE=disabled
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
