#!/usr/bin/env bash
# Run the test suite after setting up .venv: all of it (real models on CPU included), or with --fast the fast
# lane, every test but those marked slow (they load a language model or start a server), spread over every
# CPU core by pytest-xdist.
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh --fast               # the fast lane; further arguments go to pytest (-k, -x, a file)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh tests
. .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" = "--fast" ]; then
  shift
  exec python -m pytest -q -m "not slow" -n auto "$@"
fi
exec python -m pytest -q "$@"
