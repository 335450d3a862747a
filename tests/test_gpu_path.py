"""The GPU path, correct by construction and exercised on CPU: precision choice, the autocast wrapper after
training, memory freed between candidates, the out-of-memory retry, lengths, the GGUF load dtype, and Ray
scheduling with more candidates than GPUs.

A fake appears only where CPU cannot produce the condition: a GPU's compute capability, an out-of-memory error
(raised by a Trainer subclass once the batch is above a size), and logical GPUs declared to Ray.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

from slmselect.confirmation.device import DeviceChoice, choose_device, native_bf16
from slmselect.confirmation.memory import WeightsInfo, estimate_memory
from slmselect.confirmation.training import LoraRun, TrainConfig, pin_one_gpu

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CPU_BF16 = DeviceChoice("cpu", "float32", "bfloat16", False, "CPU, fp32 weights, bf16 autocast (as on a GPU)")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, model_cache_dir) -> Path:
    """A small Llama of random weights (seeded) with SmolLM2's real tokenizer, saved as a local model folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from slmselect.confirmation.cache import converted_dir

    os.environ["SLMSELECT_CACHE_DIR"] = str(model_cache_dir)
    tok = AutoTokenizer.from_pretrained(str(converted_dir(SMOL)))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    return folder


def _rows(n: int = 40) -> list[dict[str, str]]:
    words = ["refund", "invoice", "password", "login", "delivery", "parcel"]
    labels = ["billing", "billing", "account", "account", "shipping", "shipping"]
    return [{"text": f"Question {i} about my {words[i % 6]} please", "label": labels[i % 6]} for i in range(n)]


def _confirm(folder: Path, tmp_path: Path, **kw):
    from slmselect import confirm

    args = dict(models=[str(folder)], steps=2, batch_size=4, eval_examples=8, validation_examples=0, seed=0,
                progress=False, store=tmp_path / "results.sqlite", output_dir=tmp_path / "adapters", device="cpu")
    return confirm(_rows(), **(args | kw))


# ------------------------------------------------------------------------------------------------ precision


def test_bf16_only_where_the_gpu_has_it_natively():
    # T4 (7.5) and V100 (7.0) report bf16 "supported" through emulation: fp16 autocast with a GradScaler there
    assert not native_bf16((7, 5)) and not native_bf16((7, 0)) and not native_bf16(None)
    assert native_bf16((8, 0)) and native_bf16((8, 6)) and native_bf16((9, 0))
    t4 = choose_device("auto", cuda_available=True, cuda_bf16=native_bf16((7, 5)))
    assert (t4.weights_dtype, t4.autocast_dtype, t4.grad_scaler) == ("float32", "float16", True)
    a100 = choose_device("auto", cuda_available=True, cuda_bf16=native_bf16((8, 0)))
    assert (a100.weights_dtype, a100.autocast_dtype) == ("bfloat16", None)


def test_transformers_still_counts_visible_gpus_in__n_gpu(tmp_path):
    """pin_one_gpu relies on TrainingArguments keeping the GPU count in ``_n_gpu``; this fails if that changes."""
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    _ = args.device
    assert hasattr(args, "_n_gpu")
    args._n_gpu = 3  # what a machine with three visible GPUs gets
    assert args.n_gpu == 3
    assert pin_one_gpu(args).n_gpu == 1


@pytest.mark.slow
def test_the_fine_tuned_model_is_scored_without_the_autocast_wrapper(tiny_model_dir):
    """After training under mixed precision the forward is the model's own again: fine-tuned scores are measured
    at the precision the base scores were (without the fix, the forward stays wrapped in bf16 autocast)."""
    import torch
    from transformers import AutoModelForCausalLM

    from slmselect.confirmation.data import Encoded

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    items = [Encoded(prompt=list(range(10 + i, 30 + i)), answer=[5, 6, 2]) for i in range(8)]
    run = LoraRun(model, items, 0, TrainConfig(steps=2, batch_size=4, learning_rate=1e-3), CPU_BF16)
    run.train(2)
    m = run.model
    assert "_original_forward" not in vars(m) and not hasattr(m.forward, "__wrapped__")
    ids = torch.tensor([list(range(40, 60))])
    with torch.inference_mode():
        got = m(input_ids=ids).logits
        own = type(m).forward(m, input_ids=ids).logits  # the class's forward: no autocast
    assert got.dtype == torch.float32 and torch.equal(got, own)
    run.cleanup()


# ------------------------------------------------------------------------------------------------ memory


@pytest.mark.slow
def test_release_after_a_failure_frees_the_model(tiny_model_dir, tmp_path, monkeypatch):
    """The release runs after the failure's handler: by then nothing holds the model (inside the handler the
    traceback still did, through the failed stage's frame), so the next candidate's check sees the memory free."""
    from slmselect.confirmation import trial as trial_mod

    freed: list[bool] = []
    refs: list[weakref.ref] = []

    def failing_stage(self):  # a stage that fails while its frame holds the model (as training does)
        model = self.loaded.model
        refs.append(weakref.ref(model))
        raise RuntimeError("a failure inside a stage")

    original = trial_mod.Trial.release_model

    def release_model(self):
        original(self)
        freed.append(bool(refs) and refs[0]() is None)

    monkeypatch.setattr(trial_mod.Trial, "base_score", failing_stage)
    monkeypatch.setattr(trial_mod.Trial, "release_model", release_model)
    from slmselect.errors import ConfirmError

    with pytest.raises(ConfirmError) as caught:
        _confirm(tiny_model_dir, tmp_path)
    c = caught.value.report.candidates[0]
    assert c.status == "failed" and "a failure inside a stage" in c.reason
    assert freed and freed[0], "the model was still referenced when the candidate's memory was released"


def test_gpu_memory_estimate_leaves_the_host_ram_conversion_out():
    info = WeightsInfo(n_params=270_000_000, hidden=640, layers=18, intermediate=2048, vocab=262_144, gguf=True)
    cpu = estimate_memory(info, weight_bytes=4, batch_size=4, seq_len=512)
    gpu = estimate_memory(info, weight_bytes=2, batch_size=4, seq_len=2048, conversion_on_device=False)
    assert cpu.conversion == 270_000_000 * 4 and gpu.conversion == 0
    assert gpu.activations > cpu.activations  # the GPU length cap (2048) is four times the CPU's (512)


def test_scoring_cuts_prompts_at_the_training_length():
    import inspect

    from slmselect.confirmation import scoring

    class Fmt:
        max_len = 2048

    assert scoring.scoring_len(Fmt()) == 2048
    for fn in (scoring.label_logprobs, scoring.generate):
        assert inspect.signature(fn).parameters["max_len"].default is None


# ------------------------------------------------------------------------------------------------ out of memory


def _oom_above(monkeypatch, limit: int) -> list[int]:
    """Trainer steps raise torch.OutOfMemoryError while the batch is above ``limit`` (a GPU's condition)."""
    import torch

    from slmselect.confirmation import training

    seen: list[int] = []
    original = training._trainer_class

    def trainer_class():
        base = original()

        class OutOfMemoryAbove(base):
            def training_step(self, model, inputs, *a, **kw):
                size = int(inputs["input_ids"].shape[0])
                seen.append(size)
                if size > limit:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                return super().training_step(model, inputs, *a, **kw)

        return OutOfMemoryAbove

    monkeypatch.setattr(training, "_trainer_class", trainer_class)
    return seen


@pytest.mark.slow
def test_out_of_memory_retries_at_half_the_batch(tiny_model_dir, tmp_path, monkeypatch):
    seen = _oom_above(monkeypatch, 1)
    report = _confirm(tiny_model_dir, tmp_path, batch_size=4)
    c = report.candidates[0]
    assert c.status == "ok" and c.steps == 2 and c.finetuned_score is not None
    assert c.oom_retries == 2 and c.config["batch_size"] == 1 and c.config["grad_accum"] == 4
    assert 4 in seen and 2 in seen and seen[-1] == 1  # 4, then 2, then 1 x 4 accumulated: 4 examples a step


@pytest.mark.slow
def test_out_of_memory_at_batch_one_does_not_fit(tiny_model_dir, tmp_path, monkeypatch):
    _oom_above(monkeypatch, 0)
    from slmselect.errors import ConfirmError

    with pytest.raises(ConfirmError) as caught:
        _confirm(tiny_model_dir, tmp_path, batch_size=2)
    c = caught.value.report.candidates[0]
    assert c.status == "refused" and "does not fit" in c.reason and "even at batch 1" in c.reason
    assert "free on cpu" in c.reason and c.oom_retries == 1


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.slow
def test_a_gguf_model_loads_at_the_same_dtype_on_its_first_and_later_runs(tmp_path, monkeypatch):
    """The first run converts the GGUF file; it then loads the converted copy as every later run does."""
    import torch

    from slmselect.confirmation.weights import load_model

    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path / "cache"))
    choice = DeviceChoice("cpu", "bfloat16", None, False, "bf16 weights")
    first = load_model(SMOL, choice)
    assert first.source == "offline-package"
    p1 = {n: t.detach().clone() for n, t in first.model.named_parameters()}
    del first
    gc.collect()
    later = load_model(SMOL, choice)
    assert later.source == "cache"
    p2 = dict(later.model.named_parameters())
    assert {t.dtype for t in p1.values()} == {t.dtype for t in p2.values()} == {torch.bfloat16}
    assert all(torch.equal(p1[n], p2[n]) for n in p1)


# ------------------------------------------------------------------------------------------------ Ray


RAY_SCRIPT = textwrap.dedent("""
    import json, logging, sys
    import ray
    from slmselect import confirm
    from slmselect.confirmation.ray_backend import resources
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    out = {"auto": resources(2, "auto"), "cpu": resources(2, "cpu")}
    folder, smol, store = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = [{"text": f"Question {i} about my {w} please", "label": l}
            for i, (w, l) in enumerate([("refund", "billing"), ("login", "account"), ("parcel", "shipping")] * 14)]
    rep = confirm(rows, models=[folder, smol], steps=2, batch_size=2, eval_examples=6, validation_examples=6,
                  seed=0, progress=False, store=store, backend="ray", successive_halving=True)
    out["statuses"] = {c.model_id: c.status for c in rep.candidates}
    out["kept"] = rep.halving.kept
    out["device"] = rep.device
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_ray_halving_with_more_candidates_than_gpus_finishes(tiny_model_dir, model_cache_dir, tmp_path):
    """One (logical) GPU, two candidates that each ask for one: every rung's actor ends and hands its state back,
    so the second candidate starts and the survivor finishes on a new actor (before, parked actors held the
    GPU and the run waited forever)."""
    pytest.importorskip("ray")
    env = dict(os.environ, SLMSELECT_CACHE_DIR=str(model_cache_dir), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", RAY_SCRIPT, str(tiny_model_dir), SMOL, str(tmp_path / "r.sqlite")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["auto"]["num_gpus"] == 1 and out["cpu"]["num_gpus"] == 0
    assert sorted(out["statuses"].values()) == ["eliminated", "ok"]
    assert len(out["kept"]) == 1 and out["statuses"][out["kept"][0]] == "ok"
    assert out["device"].endswith("(Ray workers)") and "cpu/float32" in out["device"]
