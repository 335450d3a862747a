"""llama.cpp measured on this machine: speed, latency per example and peak resident memory of a GGUF file.

:func:`bench_gguf` runs llama.cpp (``llama-cpp-python``) in a child process on the task's own prompts,
one at a time as requests would come, with greedy decoding. It reports prompt and generation tokens per
second (llama.cpp's own counters), the latency of each example (p50, p95), the child's peak resident memory
(``VmHWM``: weights mapped and touched, KV cache, compute buffers, the Python runtime) and the hardware.
The layer offload is on whenever the installed llama.cpp build has a GPU backend.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmselect._packages import installed
from slmselect.errors import MissingDependencyError, SlmselectError

#: The keys of ``CandidateResult.serving`` (and of what :func:`bench_gguf` returns besides the answers).
SERVING_KEYS = ("format", "prompt_tokens_per_second", "generation_tokens_per_second", "latency_p50_ms",
                "latency_p95_ms", "peak_rss_bytes", "hardware")
#: llama.cpp allocates its context in steps of this many tokens.
CTX_STEP = 256


class ServingError(SlmselectError):
    """llama.cpp could not load or run a GGUF file."""


def need_llama_cpp(what: str) -> None:
    """Say how to install llama.cpp's Python bindings when they are missing."""
    if not installed("llama_cpp"):
        raise MissingDependencyError(f"{what} needs llama.cpp's Python bindings: pip install 'slmselect[edge]' "
                                     "(llama-cpp-python; it compiles llama.cpp on install).")


def hardware() -> dict[str, Any]:
    """What the measurement ran on: CPU model, cores, RAM, GPU (when llama.cpp offloads to one)."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = None
    with _suppress():
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpu = None
    with _suppress():
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "ram_bytes": ram, "gpu": gpu,
            "machine": platform.machine(), "system": platform.system()}


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], Exception)


def context_for(tokens: int) -> int:
    """The context llama.cpp gets for ``tokens`` (rounded up to its allocation step)."""
    return max(CTX_STEP, -(-int(tokens) // CTX_STEP) * CTX_STEP)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` percentile (0-100), linear between the closest ranks (numpy's default)."""
    v = sorted(values)
    if not v:
        return float("nan")
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def bench_gguf(gguf: str | os.PathLike[str], prompts: Sequence[str], *, fmt: str, max_tokens: int = 32,
               n_ctx: int | None = None, stop: Sequence[str] = (), n_threads: int | None = None,
               timeout: float = 1800) -> tuple[dict[str, Any], list[str]]:
    """Serve ``gguf`` with llama.cpp in a child process over ``prompts``; returns (serving, answers).

    ``serving`` has :data:`SERVING_KEYS` plus ``n_examples``, ``n_ctx``, ``load_seconds`` and ``gpu_offload``.
    ``n_ctx`` defaults to the longest prompt plus ``max_tokens``, rounded up to llama.cpp's step.
    """
    need_llama_cpp("Measuring a model in llama.cpp")
    path = Path(gguf).expanduser()
    if not path.is_file():
        raise ServingError(f"No GGUF file at {str(path)!r}; give the path of a .gguf file.")
    if not prompts:
        raise ServingError("There are no examples to measure the model on; give at least one.")
    if n_ctx is None:
        longest = max(len(p) for p in prompts) // 2 + 16  # safely above the token count (>= 2 characters a token)
        n_ctx = context_for(longest + max_tokens)
    job = {"model": str(path), "prompts": list(prompts), "max_tokens": int(max_tokens), "n_ctx": int(n_ctx),
           "n_threads": n_threads or os.cpu_count(), "stop": list(stop)}
    with tempfile.TemporaryDirectory(prefix="slmselect-bench-") as tmp:
        job_file, out_file = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        try:
            proc = subprocess.run([sys.executable, "-m", "slmselect.deploy._worker", str(job_file), str(out_file)],
                                  capture_output=True, text=True, timeout=timeout, env=_child_env())
        except subprocess.TimeoutExpired:
            raise ServingError(f"llama.cpp did not finish {len(prompts)} prompts on {path.name} within {timeout:g} s.") from None
        if proc.returncode != 0 or not out_file.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-6:]
            raise ServingError(f"llama.cpp could not run {path.name} (exit {proc.returncode}):\n" + "\n".join(tail))
        data = json.loads(out_file.read_text(encoding="utf-8"))
    rows = data["rows"]
    p_tok, p_ms = sum(r["prompt_tokens"] for r in rows), sum(r["prompt_ms"] for r in rows)
    g_tok, g_ms = sum(r["generated_tokens"] for r in rows), sum(r["generation_ms"] for r in rows)
    lat = [r["latency_ms"] for r in rows]
    serving = {
        "format": fmt,
        "prompt_tokens_per_second": round(p_tok / (p_ms / 1000), 1) if p_ms > 0 else None,
        "generation_tokens_per_second": round(g_tok / (g_ms / 1000), 1) if g_ms > 0 else None,
        "latency_p50_ms": round(percentile(lat, 50), 1),
        "latency_p95_ms": round(percentile(lat, 95), 1),
        "peak_rss_bytes": int(data["peak_rss_bytes"]),
        "hardware": hardware(),
        "n_examples": len(rows),
        "n_ctx": data["n_ctx"],
        "load_seconds": round(data["load_seconds"], 2),
        "gpu_offload": data["gpu_offload"],
    }
    return serving, [r["answer"].strip() for r in rows]


def _child_env() -> dict[str, str]:
    """The child imports slmselect from wherever this process did."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
