"""llama.cpp at Q8_0 and Q4_K_M against transformers on the CPU (CUDA when present), for one merged model.

    python benchmarks/serving_bench.py MERGED_HF_FOLDER tasks.jsonl [--n 32]

Writes the GGUF files with llama.cpp's own converter and quantizer, answers the same prompts greedily one at a
time in each engine, and prints one JSON object: tokens per second and peak resident memory of each engine,
their ratios to transformers, and how often each GGUF's answers agree with transformers'. transformers runs in
a child process too, so each peak memory is that engine's alone. One run; the figures in docs/edge.md come from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HF_CHILD = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
sys.path.insert(0, sys.argv[3])
from slmselect.deploy._worker import peak_rss_bytes
job = json.load(open(sys.argv[1]))
dev = "cuda" if torch.cuda.is_available() else "cpu"
tok = AutoTokenizer.from_pretrained(job["model"])
model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.bfloat16 if dev == "cuda" else torch.float32).to(dev).eval()
rows = []
for prompt in job["prompts"]:
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(dev)
    t0 = time.perf_counter()
    with torch.inference_mode():
        model(ids)
    t1 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=job["max_tokens"], do_sample=False, eos_token_id=job["stop_ids"])
    t2 = time.perf_counter()
    n = out.shape[1] - ids.shape[1]
    rows.append({"answer": tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True), "prompt_tokens": ids.shape[1],
                 "prompt_ms": (t1 - t0) * 1000, "generated_tokens": n, "generation_ms": max(0.0, (t2 - t1) * 1000 - (t1 - t0) * 1000),
                 "latency_ms": (t2 - t1) * 1000})
json.dump({"rows": rows, "peak_rss_bytes": peak_rss_bytes(), "device": dev}, open(sys.argv[2], "w"))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="a merged Hugging Face folder (slmselect export writes one)")
    ap.add_argument("tasks", help="examples file: the prompts")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from transformers import AutoTokenizer

    from slmselect.confirmation.data import PromptFormat, instruction_for
    from slmselect.deploy.bench import bench_gguf, hardware, percentile
    from slmselect.deploy.gguf import write_gguf
    from slmselect.profile.profiler import profile_task
    from slmselect.profile.readers import read_examples

    rows, _ = read_examples(args.tasks)
    profile = profile_task(rows)
    rows = rows[: args.n]
    tok = AutoTokenizer.from_pretrained(args.model)
    fmt = PromptFormat(tok, instruction_for(profile, [e.output for e in rows]), profile.task_type)
    prompts = [fmt.prompt_text(e) for e in rows]
    stops = [fmt._suffix.strip()] if fmt.chat and fmt._suffix.strip() else []  # noqa: SLF001
    out: dict = {"model": Path(args.model).name, "n_prompts": len(prompts), "max_tokens": args.max_tokens,
                 "hardware": hardware(), "engines": {}}
    with tempfile.TemporaryDirectory() as tmp:
        job, res = Path(tmp) / "job.json", Path(tmp) / "res.json"
        job.write_text(json.dumps({"model": args.model, "prompts": prompts, "max_tokens": args.max_tokens,
                                   "stop_ids": fmt.stop_ids(type("M", (), {"generation_config": None})())}))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", HF_CHILD, str(job), str(res), str(repo)], check=True)
        hf = json.loads(res.read_text())
        r = hf["rows"]
        out["engines"]["transformers"] = {
            "device": hf["device"], "wall_s": round(time.perf_counter() - t, 1),
            "prompt_tokens_per_second": round(sum(x["prompt_tokens"] for x in r) / (sum(x["prompt_ms"] for x in r) / 1000), 1),
            "generation_tokens_per_second": round(sum(x["generated_tokens"] for x in r) / max(1e-9, sum(x["generation_ms"] for x in r) / 1000), 1),
            "latency_p50_ms": round(percentile([x["latency_ms"] for x in r], 50), 1),
            "latency_p95_ms": round(percentile([x["latency_ms"] for x in r], 95), 1),
            "peak_rss_bytes": hf["peak_rss_bytes"]}
        ref = [x["answer"].strip().lower() for x in r]
        for quant in ("q8_0", "q4_k_m"):
            gguf = write_gguf(Path(args.model), Path(tmp) / f"m-{quant}.gguf", quant, Path(tmp))
            serving, answers = bench_gguf(gguf, prompts, fmt=quant, max_tokens=args.max_tokens, stop=stops)
            serving.pop("hardware")
            serving["gguf_bytes"] = gguf.stat().st_size
            serving["agreement_with_transformers"] = round(sum(a.lower() == b for a, b in zip(answers, ref)) / len(ref), 3)
            out["engines"][f"llama.cpp {quant}"] = serving
    base = out["engines"]["transformers"]
    out["ratios_to_transformers"] = {
        name: {k: round(e[k] / base[k], 2) for k in ("prompt_tokens_per_second", "generation_tokens_per_second",
                                                     "peak_rss_bytes") if e.get(k) and base.get(k)}
        for name, e in out["engines"].items() if name != "transformers"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
