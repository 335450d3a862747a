#!/usr/bin/env bash
# Run the whole test suite (real models on CPU included) after setting up .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh tests
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python -m pytest -q "$@"
