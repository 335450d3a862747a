"""One script that settles the GPU path on a CUDA machine (about ten minutes on one GPU).

    python benchmarks/gpu_check.py [--out FOLDER]
    python benchmarks/gpu_check.py --smoke     # the same steps on the CPU with tiny shapes: checks the script itself

It needs no network: the models it trains are built here from real architectures' shapes (Qwen2.5-0.5B,
Llama-3.2-1B) with random weights and the offline SmolLM2 tokenizer; the offline models themselves run too
where their packages are installed. It checks, on real CUDA:

1. the precision choice (bf16 only with native support, else fp16 autocast with a GradScaler);
2. the memory estimated before training against the measured peak, per model;
3. the release between candidates, also after a failed one (allocated memory back to the baseline);
4. the out-of-memory retry, provoked by a batch too large for the card;
5. successive halving on a local Ray with more candidates than GPUs (it must finish, not wait).

Without CUDA it says so and exits 0. Figures go to stdout and, as JSON, to FOLDER/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

GB = 1024**3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the offline models: a model source registered from examples/offline_models.py, for this process and its workers
os.environ.setdefault("SLMSELECT_MODEL_SOURCES", os.path.join(ROOT, "examples", "offline_models.py") + ":register")
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
SHAPES = {  # hidden, intermediate, layers, heads, kv heads (from the models' config.json)
    "qwen2.5-0.5b-shape": ("qwen2", 896, 4864, 24, 14, 2),
    "llama-3.2-1b-shape": ("llama", 2048, 8192, 16, 32, 8),
}
#: --smoke: the same architectures, scaled down to run on a CPU in seconds
SMOKE_SHAPES = {
    "qwen2.5-0.5b-shape": ("qwen2", 64, 128, 2, 4, 2),
    "llama-3.2-1b-shape": ("llama", 64, 128, 2, 4, 2),
}
DEVICE = "cuda"


def rows(n: int = 96) -> list[dict[str, str]]:
    items = [("refund", "billing"), ("invoice", "billing"), ("password", "account"), ("login", "account"),
             ("delivery", "shipping"), ("parcel", "shipping")]
    return [{"text": f"Ticket {i}: a question about my {w}, please help", "label": lab}
            for i, (w, lab) in enumerate(items * (n // len(items)))]


def build_models(work: Path, shapes: dict[str, tuple] = SHAPES) -> dict[str, str]:
    """Random-weight models of real shapes, saved as local folders with the SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from slmselect.confirmation.cache import converted_dir
    from slmselect.confirmation.weights import ensure_converted

    ensure_converted(SMOL)
    tok = AutoTokenizer.from_pretrained(str(converted_dir(SMOL)))
    out = {}
    for name, (arch, hidden, inter, layers, heads, kv) in shapes.items():
        cfg_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
        cfg = cfg_cls(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=4096,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        torch.manual_seed(0)
        folder = work / name
        model_cls(cfg).save_pretrained(str(folder), safe_serialization=True)
        tok.save_pretrained(str(folder))
        out[name] = str(folder)
    return out


def run_confirm(models: list[str], work: Path, **kw):  # type: ignore[no-untyped-def]
    from slmselect import confirm
    from slmselect.errors import ConfirmError

    args = dict(steps=4, batch_size=8, eval_examples=16, validation_examples=8, seed=0, progress=False,
                store=work / "results.sqlite", output_dir=work / "adapters", device=DEVICE)
    try:
        return confirm(rows(), models=models, **(args | kw))
    except ConfirmError as err:
        return err.report  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_check.json")
    parser.add_argument("--smoke", action="store_true", help="run the steps on the CPU with tiny shapes (checks the script)")
    a = parser.parse_args()
    import torch

    if a.smoke:
        return smoke()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False, torch "
              f"{torch.__version__}); nothing to check. Run it on a machine with a CUDA GPU and a CUDA build of torch.")
        return 0
    from slmselect.confirmation.device import detect_device, native_bf16

    t0 = time.perf_counter()
    fig: dict[str, object] = {}
    cap = torch.cuda.get_device_capability(0)
    choice = detect_device("auto")
    fig["precision"] = {"gpu": torch.cuda.get_device_name(0), "capability": list(cap), "gpus": torch.cuda.device_count(),
                        "is_bf16_supported": bool(torch.cuda.is_bf16_supported()), "native_bf16": native_bf16(cap),
                        "choice": choice.label, "why": choice.reason}
    print("1. precision:", fig["precision"], flush=True)

    work = Path(tempfile.mkdtemp(prefix="slmselect-gpu-check-"))
    folders = build_models(work)
    # 2. estimate vs measured peak
    rep = run_confirm(list(folders.values()), work / "peaks")
    fig["memory"] = [{"model": Path(c.model_id).name, "status": c.status, "estimate_gb": round((c.memory_estimate_bytes or 0) / GB, 2),
                      "peak_gb": round((c.peak_memory_bytes or 0) / GB, 2), "dtype": c.config.get("dtype")}
                     for c in rep.candidates]
    print("2. memory estimate vs peak:", fig["memory"], flush=True)

    # 3. release between candidates, after a failed one too: a folder whose weights are missing fails at load
    broken = work / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama"}))
    allocated: list[float] = []
    base = torch.cuda.memory_allocated(0)
    rep = run_confirm([folders["llama-3.2-1b-shape"], str(broken), folders["qwen2.5-0.5b-shape"]], work / "release",
                      on_candidate_done=lambda r: allocated.append(round((torch.cuda.memory_allocated(0) - base) / GB, 3)))
    fig["release"] = {"statuses": [c.status for c in rep.candidates], "allocated_after_each_gb": allocated}
    print("3. release between candidates:", fig["release"], flush=True)

    # 4. out of memory: a batch far too large for the card, retried at half the batch until it fits
    rep = run_confirm([folders["llama-3.2-1b-shape"]], work / "oom", batch_size=4096, steps=2, max_seq_len=2048,
                      eval_examples=8)
    c = rep.candidates[0]
    fig["oom_retry"] = {"status": c.status, "oom_retries": c.oom_retries, "batch_size": c.config.get("batch_size"),
                        "grad_accum": c.config.get("grad_accum"), "reason": c.reason}
    print("4. out-of-memory retry:", fig["oom_retry"], flush=True)

    # 5. halving on a local Ray with more candidates than GPUs
    try:
        import ray

        ray.init(num_gpus=torch.cuda.device_count(), include_dashboard=False, log_to_driver=False)
        n = torch.cuda.device_count() + 2
        models = (list(folders.values()) * n)[:n]
        copies = []
        for i, m in enumerate(models):  # distinct ids: one folder per candidate
            dst = work / f"cand{i}"
            os.symlink(m, dst)
            copies.append(str(dst))
        start = time.perf_counter()
        rep = run_confirm(copies, work / "ray", backend="ray", successive_halving=True, steps=4, device="auto")
        fig["ray_halving"] = {"candidates": n, "gpus": torch.cuda.device_count(), "seconds": round(time.perf_counter() - start, 1),
                              "statuses": [c.status for c in rep.candidates], "device": rep.device}
        ray.shutdown()
    except ImportError:
        fig["ray_halving"] = "ray is not installed: pip install 'slmselect[ray]'"
    print("5. Ray halving:", fig["ray_halving"], flush=True)

    # the offline models, where their packages are installed
    try:
        rep = run_confirm([SMOL, GEMMA], work / "offline", steps=10, batch_size=4)
        fig["offline"] = [{"model": c.model_id, "status": c.status, "base": c.base_score, "finetuned": c.finetuned_score,
                           "peak_gb": round((c.peak_memory_bytes or 0) / GB, 2), "estimate_gb": round((c.memory_estimate_bytes or 0) / GB, 2)}
                          for c in rep.candidates]
    except Exception as err:  # noqa: BLE001 - reported, the rest stands
        fig["offline"] = f"not run: {type(err).__name__}: {err}"
    print("offline models:", fig["offline"], flush=True)
    fig["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(fig, indent=2, default=str)
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "gpu_check.json").write_text(text + "\n")
    print(text)
    return 0


def smoke() -> int:
    """Steps 2, 3 and 5 on the CPU with tiny shapes (1 and 4 need a GPU's precision and allocator)."""
    global DEVICE
    DEVICE = "cpu"
    work = Path(tempfile.mkdtemp(prefix="slmselect-gpu-check-smoke-"))
    folders = build_models(work, SMOKE_SHAPES)
    rep = run_confirm(list(folders.values()), work / "peaks", steps=2, batch_size=4)
    print("2. memory estimate vs peak:", [(Path(c.model_id).name, c.status, c.memory_estimate_bytes, c.peak_memory_bytes)
                                          for c in rep.candidates], flush=True)
    broken = work / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama"}))
    rep = run_confirm([folders["llama-3.2-1b-shape"], str(broken), folders["qwen2.5-0.5b-shape"]], work / "release", steps=2)
    print("3. statuses with a broken candidate:", [c.status for c in rep.candidates], flush=True)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    copies = []
    for i, m in enumerate((list(folders.values()) * 2)[:3]):
        dst = work / f"cand{i}"
        os.symlink(m, dst)
        copies.append(str(dst))
    rep = run_confirm(copies, work / "ray", backend="ray", successive_halving=True, steps=4)
    print("5. Ray halving, 3 candidates on 2 CPUs:", [c.status for c in rep.candidates], rep.device, flush=True)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
