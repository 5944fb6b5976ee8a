#!/usr/bin/env bash
# Install (skipped while .venv is current, see install.sh) and run the demo on embedded defaults (local Ray, SQLite, tiny base model).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
exec .venv/bin/python -m jobs.demo "$@"
