#!/usr/bin/env bash
# The main job: profile a real task, recommend models, and confirm the pick with a short real LoRA run
# of the two offline models on CPU. No GPU, no network needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python examples/demo.py "$@"
