"""Pieces of confirm that need no model: device choice, split, batching, schedule, memory estimate, report."""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter

import pytest

from slmselect.errors import ConfirmError, ParameterError
from slmselect._types import Example
from slmselect.confirmation import CandidateResult, ConfirmReport, HalvingSummary
from slmselect.confirmation.data import (
    IGNORE,
    Encoded,
    bucketed_batches,
    choose_max_len,
    collate,
    split_examples,
)
from slmselect.confirmation.device import DeviceChoice, choose_device
from slmselect.confirmation.halving import rung_steps_for, survivors_count
from slmselect.confirmation.memory import WeightsInfo, estimate_memory
from slmselect.confirmation.training import lr_factor
from slmselect.confirmation.weights import safe_id

# ------------------------------------------------------------------------------------------------ device


def test_auto_prefers_cuda_with_bf16():
    c = choose_device("auto", cuda_available=True, cuda_bf16=True, mps_available=True)
    assert (c.device, c.weights_dtype, c.autocast_dtype, c.grad_scaler) == ("cuda", "bfloat16", None, False)


def test_cuda_without_bf16_uses_fp16_autocast_and_a_grad_scaler():
    c = choose_device("auto", cuda_available=True, cuda_bf16=False)
    assert (c.weights_dtype, c.autocast_dtype, c.grad_scaler) == ("float32", "float16", True)
    assert c.label == "cuda/float16"


def test_then_mps_then_cpu_fp32():
    assert choose_device("auto", cuda_available=False, mps_available=True).device == "mps"
    cpu = choose_device("auto", cuda_available=False)
    assert (cpu.device, cpu.weights_dtype, cpu.autocast_dtype) == ("cpu", "float32", None)
    assert cpu.weight_bytes == 4
    assert choose_device("cpu", cuda_available=True, cuda_bf16=True).device == "cpu"
    assert choose_device("cuda:1", cuda_available=True, cuda_bf16=True).device == "cuda:1"


def test_bad_or_unavailable_devices_are_parameter_errors():
    with pytest.raises(ParameterError, match="Did you mean 'cuda'"):
        choose_device("cdua", cuda_available=False)
    with pytest.raises(ParameterError, match="no CUDA GPU"):
        choose_device("cuda", cuda_available=False)
    with pytest.raises(ParameterError, match="MPS"):
        choose_device("mps", cuda_available=False, mps_available=False)


# ------------------------------------------------------------------------------------------------ split


def _examples(n_per_label: dict[str, int]) -> list[Example]:
    out = []
    for label, n in n_per_label.items():
        out += [Example(input=f"{label} question {i}", output=label) for i in range(n)]
    return out


def test_split_is_stratified_disjoint_and_deterministic():
    exs = _examples({"a": 60, "b": 30, "c": 6})
    train, held = split_examples(exs, task_type="classification", eval_examples=32, seed=3)
    assert len(held) == 32 and len(train) == 64
    assert not set(train) & set(held)
    counts = Counter(exs[i].output for i in held)
    assert counts == {"a": 20, "b": 10, "c": 2}
    assert split_examples(exs, task_type="classification", eval_examples=32, seed=3) == (train, held)
    assert split_examples(exs, task_type="classification", eval_examples=32, seed=4) != (train, held)


def test_split_keeps_identical_inputs_together_and_checks_sizes():
    exs = [Example(input="same", output="x"), Example(input="same", output="x")] + _examples({"y": 10})
    for seed in range(5):
        train, held = split_examples(exs, task_type="classification", eval_fraction=0.3, seed=seed)
        assert ({0, 1} <= set(train)) or ({0, 1} <= set(held))
    with pytest.raises(Exception, match="distinct inputs"):
        split_examples(exs, task_type="classification", eval_examples=11)
    with pytest.raises(ParameterError):
        split_examples(exs, task_type="generation", eval_fraction=1.5)


# ------------------------------------------------------------------------------------------------ batches


def test_bucketed_batches_cover_every_example_each_epoch_with_similar_lengths():
    lengths = [(i * 37) % 101 + 5 for i in range(200)]

    def mean_spread(bucket: int) -> float:
        gen = bucketed_batches(lengths, 8, seed=0, bucket=bucket)
        epoch = [next(gen) for _ in range(25)]
        assert sorted(i for b in epoch for i in b) == list(range(200))
        return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch) / len(epoch)

    assert mean_spread(16) < 15  # lengths 5-105: batches hold similar lengths
    assert mean_spread(1) > 50  # no bucketing: random batches


def test_collate_pads_to_the_longest_and_masks_prompt_and_padding():
    pytest.importorskip("torch")
    items = [Encoded([1, 2, 3], [7, 8]), Encoded([4], [9])]
    b = collate(items, pad_id=0)
    assert b["input_ids"].tolist() == [[1, 2, 3, 7, 8], [4, 9, 0, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert b["labels"].tolist() == [[IGNORE, IGNORE, IGNORE, 7, 8], [IGNORE, 9, IGNORE, IGNORE, IGNORE]]
    assert b["keep"].tolist() == [0, 2, 3]  # positions whose next token is an answer token
    assert b["n_tokens"] == 7


def test_max_len_follows_the_p95_and_is_capped():
    assert choose_max_len([40] * 95 + [90] * 5, gpu=False) == 80  # max(1.25 x p95=40, 2 x p50=40) = 80
    assert choose_max_len([2000] * 10, gpu=False) == 512
    assert choose_max_len([2000] * 10, gpu=True) == 2048


def test_lr_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(s, 40, 4) for s in range(40)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[-1] == pytest.approx(1 / 36)
    assert all(a >= b for a, b in itertools.pairwise(factors[3:]))


def test_successive_halving_budget():
    assert rung_steps_for(40) == 10 and rung_steps_for(4) == 1 and rung_steps_for(1) == 1
    assert [survivors_count(n) for n in (2, 3, 4, 5)] == [1, 2, 2, 3]
    steps, n = 40, 3
    assert n * rung_steps_for(steps) + survivors_count(n) * (steps - rung_steps_for(steps)) <= n * steps


# ------------------------------------------------------------------------------------------------ memory


def test_memory_estimate_counts_weights_conversion_and_activations():
    info = WeightsInfo(n_params=100_000_000, hidden=512, layers=20, intermediate=1536, vocab=50_000, gguf=True)
    est = estimate_memory(info, weight_bytes=4, batch_size=8, seq_len=128)
    assert est.weights == 400_000_000 and est.conversion == 400_000_000
    assert est.activations == 8 * 128 * 20 * (10 * 512 + 3 * 1536) * 4 + 8 * 128 * 50_000 * 12
    assert est.total > est.weights + est.conversion + est.activations
    assert "GB" in est.describe()
    half = estimate_memory(WeightsInfo(n_params=100_000_000), weight_bytes=2, batch_size=8, seq_len=128)
    assert half.weights == 200_000_000 and half.conversion == 0
    assert estimate_memory(WeightsInfo(), weight_bytes=4, batch_size=1, seq_len=1) is None


def test_safe_id():
    assert safe_id("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB--SmolLM2-135M-Instruct"
    assert safe_id("weird id:v1") == "weird_id_v1"


# ------------------------------------------------------------------------------------------------ report


def _report() -> ConfirmReport:
    a = CandidateResult(
        model_id="org/a",
        status="ok",
        metric="accuracy",
        base_score=0.1,
        finetuned_score=0.6,
        steps=40,
        train_seconds=10.0,
        tokens_per_second=500.0,
        peak_memory_bytes=2 * 1024**3,
    )
    b = CandidateResult(model_id="org/b", status="ok", metric="accuracy", base_score=0.2, finetuned_score=0.7, steps=40)
    c = CandidateResult(model_id="org/c", status="failed", metric="accuracy", reason="Could not load weights\nTried: x")
    h = HalvingSummary(
        rung_steps=10,
        full_steps=40,
        kept=["org/a", "org/b"],
        eliminated=["org/c"],
        rung_scores={"org/a": 0.4},
        steps_used=90,
        steps_full_budget=120,
        seconds_used=90.0,
        seconds_full_budget_estimate=120.0,
    )
    return ConfirmReport(
        run_id="r",
        task_type="classification",
        metric="accuracy",
        task_fingerprint="f",
        n_train=64,
        n_eval=32,
        device="cpu/float32",
        candidates=[a, b, c],
        first_choice="org/a",
        halving=h,
    )


def test_report_pick_gain_exports_and_rendering():
    report = _report()
    assert report.pick == "org/b" and report.agrees_with_first_choice is False
    assert report.result("org/a").gain == pytest.approx(0.5)
    frame = report.to_pandas()
    assert frame["picked"].tolist() == [False, True, False]
    data = json.loads(report.to_json())
    assert data["pick"] == "org/b" and data["halving"]["steps_saved"] == 30
    assert data["candidates"][0]["gain"] == pytest.approx(0.5)
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=140, color_system=None).print(report)
    text = buf.getvalue()
    assert "* org/b" in text and "+0.500" in text and "failed: Could not load weights" in text
    assert "first choice was org/a" in text and "saved 30" in text


def test_confirm_parameter_checks_need_no_model():
    from slmselect.confirmation import confirm

    rows = [{"text": f"q{i}", "label": "a" if i % 2 else "b"} for i in range(10)]
    with pytest.raises(ParameterError, match="exactly one"):
        confirm(rows)
    with pytest.raises(ParameterError, match="steps"):
        confirm(rows, models=["x"], steps=0)
    with pytest.raises(ParameterError, match="twice"):
        confirm(rows, models=["x", "x"])
    with pytest.raises(ParameterError, match="learning_rate"):
        confirm(rows, models=["x"], learning_rate=5.0)
    assert issubclass(ConfirmError, Exception)
    assert isinstance(choose_device("cpu", cuda_available=False), DeviceChoice)


def test_importing_the_confirm_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, slmselect.confirmation; print([m for m in ('torch', 'transformers', 'peft', 'rich') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
