"""The child process of :mod:`slmselect.deploy.bench`: llama.cpp on a GGUF file, one prompt at a time.

Reads a JSON job (``model``, ``prompts``, ``max_tokens``, ``n_ctx``, ``n_threads``, ``stop``) from the file
named by ``argv[1]`` and writes the answers and timings as JSON to ``argv[2]``. Kept apart from the caller so
that the peak resident memory it reports is llama.cpp's alone (the caller may hold torch and a model).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident set: ``VmHWM`` on Linux, ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def main(job_path: str, out_path: str) -> None:
    import llama_cpp

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    start = time.perf_counter()
    llm = llama_cpp.Llama(model_path=job["model"], n_ctx=int(job["n_ctx"]), n_threads=job.get("n_threads"),
                          n_threads_batch=job.get("n_threads"), n_gpu_layers=-1 if offload else 0, verbose=False)
    load_seconds = time.perf_counter() - start
    ctx = llm._ctx.ctx  # noqa: SLF001 - the perf counters live on the llama_context
    rows = []
    for prompt in job["prompts"]:
        llm.reset()  # every prompt is evaluated whole, as a fresh request would be
        llama_cpp.llama_perf_context_reset(ctx)
        t0 = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=int(job["max_tokens"]), temperature=0.0, top_k=1,
                                    stop=job.get("stop") or None)
        wall = time.perf_counter() - t0
        perf = llama_cpp.llama_perf_context(ctx)
        rows.append({"answer": out["choices"][0]["text"], "latency_ms": wall * 1000,
                     "prompt_tokens": int(perf.n_p_eval), "prompt_ms": float(perf.t_p_eval_ms),
                     "generated_tokens": int(perf.n_eval), "generation_ms": float(perf.t_eval_ms)})
    result = {"rows": rows, "load_seconds": load_seconds, "gpu_offload": offload,
              "n_ctx": int(llm.n_ctx()), "peak_rss_bytes": peak_rss_bytes()}
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
